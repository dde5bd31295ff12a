// Shared set-up for the browser tests: Debian's Chromium through playwright-core (no browser
// download), the edge under test (EDGE_URL), screenshots, and a throwaway host-page server.
import { accessSync, constants } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..", "..");

/** The real edge: it serves webform/dist at /webform/ and the /support API. */
export const EDGE_URL = (process.env.EDGE_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
/** Port of the hostile host page; its origin must be in the edge's CORS_ORIGINS. */
export const HOST_PAGE_PORT = Number(process.env.HOST_PAGE_PORT ?? 8099);
export const HOST_PAGE_ORIGIN = `http://127.0.0.1:${HOST_PAGE_PORT}`;
export const ARTIFACTS_DIR = resolve(process.env.WEBFORM_ARTIFACTS_DIR ?? join(repoRoot, "artifacts", "webform"));
/** The same `chromium` that `make system-packages` checks for on PATH. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? findOnPath("chromium") ?? "/usr/bin/chromium";
/** How long the pipeline (Kafka → worker → agent → dispatcher) gets to answer. */
export const REPLY_TIMEOUT_MS = Number(process.env.REPLY_TIMEOUT_MS ?? 120_000);
/** Per test case: at most one reply to wait for, plus the steps around it (15 s each at most). */
export const TEST_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? REPLY_TIMEOUT_MS + 90_000);

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? "").split(":").filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return null;
}

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * A fresh browser profile per run (launchPersistentContext owns --user-data-dir: playwright
 * refuses it in args). Collects page errors so a test can assert the console stayed clean.
 */
export async function launchBrowser() {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: run \`make system-packages\` (installs Debian's chromium) or set CHROMIUM_PATH`);
  }
  const profile = await mkdtemp(join(tmpdir(), "fb-webform-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    locale: "en-US",
    timezoneId: "UTC",
    reducedMotion: "reduce",
  });
  context.setDefaultTimeout(15_000);
  const problems = [];
  context.on("page", (page) => watch(page, problems));
  for (const page of context.pages()) watch(page, problems);
  return {
    context,
    problems,
    async newPage(viewport) {
      const page = context.pages().find((p) => p.url() === "about:blank" && !p.__used) ?? (await context.newPage());
      page.__used = true;
      if (viewport) await page.setViewportSize(viewport);
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

function watch(page, problems) {
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
}

export async function screenshot(page, name, options = {}) {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, name);
  await page.screenshot({ path, fullPage: true, animations: "disabled", ...options });
  return path;
}

/** Fails early, with a useful message, when the edge does not serve the built form. */
export async function requireEdge() {
  let response;
  try {
    response = await fetch(`${EDGE_URL}/webform/embed.js`, { method: "GET" });
  } catch (err) {
    throw new Error(`the edge is not reachable at EDGE_URL=${EDGE_URL} (${err.cause?.code ?? err.message})`);
  }
  if (!response.ok) {
    throw new Error(
      `${EDGE_URL}/webform/embed.js answered ${response.status}: build the form (cd webform && npm run build) and mount webform/dist at /webform/ on the edge`,
    );
  }
}

/** A unique, valid customer per test run (the edge rate-limits per sender). */
export function uniqueEmail(tag) {
  const stamp = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return `webform.${tag}.${stamp}@example.com`;
}

/** Serves fixed pages from 127.0.0.1:port, standing in for a customer's web site. */
export async function startHostPageServer(pages, port = HOST_PAGE_PORT) {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const body = pages[path];
    if (path === "/favicon.ico") {
      res.writeHead(204);
      return res.end();
    }
    if (body === undefined) {
      res.writeHead(404, { "Content-Type": "text/plain" });
      return res.end("not found");
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    res.end(body);
  });
  await new Promise((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolveListen);
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The focused element, looking inside shadow roots. */
export async function deepActiveElement(page) {
  return page.evaluate(() => {
    let el = document.activeElement;
    while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
    if (!el) return null;
    const label = el.labels?.[0]?.textContent?.trim() ?? null;
    return { tag: el.tagName.toLowerCase(), name: el.getAttribute("name"), label, text: el.textContent?.trim() ?? "" };
  });
}
