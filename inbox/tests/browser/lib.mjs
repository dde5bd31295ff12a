// Shared set-up for the inbox's browser tests: Debian's Chromium through playwright-core (no
// browser download), the real edge under test (EDGE_URL), an operator key, screenshots.
import { accessSync, constants } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..", "..");

/** The real edge: it serves inbox/dist at /inbox/ and the API at /inbox/api/. */
export const EDGE_URL = (process.env.EDGE_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
/** An API key of role agent (or admin): the operator who claims, replies and resolves. */
export const AGENT_KEY = process.env.INBOX_AGENT_KEY ?? process.env.FTE_API_KEY ?? "";
/** The person the company's identity provider signs in (its email, and `oidc:<sub>`): set, the
 * company sign-in case runs (the edge must offer a provider that consents as that person). */
export const OIDC_EMAIL = process.env.INBOX_OIDC_EMAIL ?? "";
export const OIDC_SUBJECT = process.env.INBOX_OIDC_SUBJECT ?? "";
export const ARTIFACTS_DIR = resolve(process.env.INBOX_ARTIFACTS_DIR ?? join(repoRoot, "artifacts", "inbox"));
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? findOnPath("chromium") ?? "/usr/bin/chromium";
/** How long the pipeline gets to escalate a submission (Kafka → worker → agent). */
export const ESCALATION_TIMEOUT_MS = Number(process.env.ESCALATION_TIMEOUT_MS ?? 120_000);
export const TEST_TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MS ?? ESCALATION_TIMEOUT_MS + 90_000);

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 375, height: 812 };

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? "").split(":").filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

export async function launchBrowser() {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: run \`make system-packages\` or set CHROMIUM_PATH`);
  }
  const profile = await mkdtemp(join(tmpdir(), "fb-inbox-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    viewport: DESKTOP,
    locale: "en-US",
    timezoneId: "UTC",
    reducedMotion: "reduce",
  });
  context.setDefaultTimeout(15_000);
  const problems = [];
  const watch = (page) => {
    page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
    page.on("console", (msg) => {
      // The sign-in check of a refused key logs the 401 itself; anything else is a problem.
      if (msg.type() === "error" && !/status of 40[13]/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
  };
  context.on("page", watch);
  context.pages().forEach(watch);
  return {
    context,
    problems,
    /** A page of its own (sessionStorage is per tab: each starts signed out). */
    async newPage(viewport) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name) {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS_DIR, name), fullPage: true, animations: "disabled" });
}

export async function requireEdge() {
  if (!AGENT_KEY) throw new Error("set INBOX_AGENT_KEY to an API key of role agent or admin");
  let response;
  try {
    response = await fetch(`${EDGE_URL}/inbox/`);
  } catch (err) {
    throw new Error(`the edge is not reachable at EDGE_URL=${EDGE_URL} (${err.cause?.code ?? err.message})`);
  }
  if (!response.ok) throw new Error(`${EDGE_URL}/inbox/ answered ${response.status}: build the inbox (make inbox)`);
}

/** A web-form customer asks about pricing, which the agent hands to sales; answers the ticket id. */
export async function submitPricingQuestion(name) {
  const stamp = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const response = await fetch(`${EDGE_URL}/support/submit`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": `inbox-browser-${stamp}` },
    body: JSON.stringify({
      name,
      email: `inbox.${stamp}@example.com`,
      subject: `Seats discount ${stamp}`,
      category: "billing",
      message: "How much does the Business plan cost per user per month? Is there a discount for 50 seats?",
    }),
  });
  if (response.status !== 202) throw new Error(`submit answered ${response.status}: ${await response.text()}`);
  return (await response.json()).ticket_id;
}

/** Waits until the ticket's escalation is in the queue (through the same API the app uses). */
export async function waitForEscalation(ticketId) {
  const deadline = Date.now() + ESCALATION_TIMEOUT_MS;
  for (;;) {
    const response = await fetch(`${EDGE_URL}/inbox/api/escalations?page_size=200&state=open`, {
      headers: { Authorization: `Bearer ${AGENT_KEY}` },
    });
    if (response.ok) {
      const found = (await response.json()).escalations.find((e) => e.ticket_id === ticketId);
      if (found) return found;
    } else if (response.status !== 503) {
      throw new Error(`the queue answered ${response.status}: ${await response.text()}`);
    }
    if (Date.now() > deadline) throw new Error(`ticket ${ticketId} was not escalated within ${ESCALATION_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Presses Tab (at most `max` times) until the focused element matches; keyboard only. */
export async function tabTo(page, describe, matches, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      return el
        ? { tag: el.tagName.toLowerCase(), text: (el.textContent ?? "").trim(), label: el.labels?.[0]?.textContent?.trim() ?? el.getAttribute("aria-label") ?? "", href: el.getAttribute("href") ?? "" }
        : null;
    });
    if (focused && matches(focused)) return focused;
  }
  throw new Error(`Tab never reached ${describe}`);
}

/** The focused element's outline: focus must be visible to a keyboard user. */
export async function focusVisible(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el) return false;
    const style = getComputedStyle(el);
    return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  });
}
