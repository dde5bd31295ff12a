// The one-tag embed on a hostile host page served from another origin (HOST_PAGE_ORIGIN,
// which must be in the edge's CORS_ORIGINS): the host's CSS must not break the form, the
// form's CSS must not leak out, and a submission must still go through.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EDGE_URL, HOST_PAGE_ORIGIN, launchBrowser, requireEdge, screenshot, startHostPageServer, TEST_TIMEOUT_MS, uniqueEmail } from "./lib.mjs";

const HOSTILE_CSS = `
  html { font-size: 7px !important; }
  * {
    all: unset;
    font-family: "Comic Sans MS", "Comic Neue", cursive !important;
    font-size: 28px !important;
    line-height: 0.7 !important;
    letter-spacing: 3px !important;
    text-transform: uppercase !important;
    color: #ff00ff !important;
    box-sizing: content-box !important;
    display: inline !important;
    --fb-blue-600: #ff0000 !important;
    --fb-ink: #00ff00 !important;
  }
  head, style, script, title { display: none !important; }
  body { background: #202020 !important; padding: 30px !important; }
  form, input, select, textarea, button, label, div, p, h1, h2, ol, li {
    display: none !important; background: red !important; border: 6px dotted yellow !important;
  }
  .fb-root, .fb-card, .fb-form, .fb-input, .fb-button, [class*="fb-"] { display: none !important; }
  flowboard-support { opacity: 0.05 !important; transform: scale(0.3) rotate(8deg) !important; filter: blur(4px) !important;
    width: 40px !important; height: 40px !important; overflow: hidden !important; margin-left: -500px !important; }
  .host-button { display: inline-block !important; background: rgb(255, 0, 0) !important; padding: 4px !important; }
`;

const hostPage = () => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Hostile host page</title>
  <style>${HOSTILE_CSS}</style>
</head>
<body>
  <h1>Some shop</h1>
  <p>Host page text. <code class="host-code">host code</code> <button class="host-button" type="button">Host button</button></p>
  <section class="help">
    <script src="${EDGE_URL}/webform/embed.js" data-api="${EDGE_URL}"></script>
  </section>
  <p class="after">Text after the widget.</p>
</body>
</html>`;

describe("embedded form on a hostile host page", () => {
  let browser;
  let host;

  before(async () => {
    await requireEdge();
    host = await startHostPageServer({ "/hostile.html": hostPage() });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await host?.close();
  });

  test("renders intact, leaks nothing, and still submits across origins", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 1024, height: 900 });
    // What the host page looks like to itself before the widget exists.
    const hostBefore = await page.evaluate(async (html) => {
      const frame = document.createElement("iframe");
      document.body.appendChild(frame);
      frame.srcdoc = html.replace(/<script[^>]*embed\.js[^>]*><\/script>/, "");
      await new Promise((r) => (frame.onload = r));
      const doc = frame.contentDocument;
      const style = (sel) => {
        const cs = frame.contentWindow.getComputedStyle(doc.querySelector(sel));
        return { bg: cs.backgroundColor, font: cs.fontFamily, size: cs.fontSize, color: cs.color, display: cs.display };
      };
      const out = { code: style(".host-code"), button: style(".host-button"), after: style(".after"), sheets: doc.styleSheets.length };
      frame.remove();
      return out;
    }, hostPage());

    await page.goto(`${host.origin}/hostile.html`);
    const hostEl = page.locator("flowboard-support");
    await hostEl.waitFor({ state: "attached" });
    await page.getByRole("heading", { name: "Contact support" }).waitFor();

    // The host's CSS does not reach the form.
    const look = await page.evaluate(() => {
      const hostNode = document.querySelector("flowboard-support");
      const root = hostNode.shadowRoot;
      const cs = (el) => getComputedStyle(el);
      const input = root.querySelector('input[name="name"]');
      const button = root.querySelector('button[type="submit"]');
      const card = root.querySelector(".fb-card");
      const h = cs(hostNode);
      return {
        hostDisplay: h.display,
        hostOpacity: h.opacity,
        hostTransform: h.transform,
        hostFilter: h.filter,
        cardHeight: card.getBoundingClientRect().height,
        cardWidth: card.getBoundingClientRect().width,
        inputDisplay: cs(input).display,
        inputFontSize: cs(input).fontSize,
        inputFont: cs(input).fontFamily,
        inputBorder: cs(input).borderTopStyle,
        labelTransform: cs(root.querySelector("label")).textTransform,
        labelSpacing: cs(root.querySelector("label")).letterSpacing,
        buttonBg: cs(button).backgroundColor,
        textColor: cs(root.querySelector(".fb-lead")).color,
      };
    });
    assert.equal(look.hostDisplay, "block");
    assert.equal(look.hostOpacity, "1");
    assert.equal(look.hostTransform, "none");
    assert.equal(look.hostFilter, "none");
    assert.ok(look.cardHeight > 500 && look.cardWidth > 300, `form laid out: ${JSON.stringify(look)}`);
    assert.equal(look.inputDisplay, "block");
    assert.equal(look.inputFontSize, "16px");
    assert.doesNotMatch(look.inputFont, /Comic/);
    assert.equal(look.inputBorder, "solid");
    assert.equal(look.labelTransform, "none");
    assert.equal(look.labelSpacing, "normal");
    assert.equal(look.buttonBg, "rgb(36, 98, 214)", "brand blue, not the host's custom property");
    assert.notEqual(look.textColor, "rgb(255, 0, 255)");

    // The form's CSS does not reach the host page (its shadow CSS styles bare `code` and buttons).
    const hostAfter = await page.evaluate(() => {
      const style = (sel) => {
        const cs = getComputedStyle(document.querySelector(sel));
        return { bg: cs.backgroundColor, font: cs.fontFamily, size: cs.fontSize, color: cs.color, display: cs.display };
      };
      return { code: style(".host-code"), button: style(".host-button"), after: style(".after"), sheets: document.styleSheets.length };
    });
    assert.deepEqual(hostAfter, hostBefore, "host page styles are unchanged by the widget");

    await screenshot(page, "embed-hostile-form.png");

    // Narrow host column: the widget follows its own width (container queries), not the viewport's.
    await page.setViewportSize({ width: 320, height: 800 });
    const narrow = await page.evaluate(() => {
      const root = document.querySelector("flowboard-support").shadowRoot;
      const card = root.querySelector(".fb-card").getBoundingClientRect();
      const widest = Math.max(...[...root.querySelectorAll("input, select, textarea, button")].map((el) => el.getBoundingClientRect().right));
      return { right: card.right, widest };
    });
    assert.ok(narrow.right <= 320 && narrow.widest <= narrow.right, `fits 320 px: ${JSON.stringify(narrow)}`);
    await screenshot(page, "embed-hostile-320.png");
    await page.setViewportSize({ width: 1024, height: 900 });

    await page.getByLabel("Your name").fill("Embed Tester");
    await page.getByLabel("Email").fill(uniqueEmail("embed"));
    await page.getByLabel("Category").selectOption("general");
    await page.getByLabel("Subject").fill("Question from an embedded form");
    await page.getByLabel("How can we help?").fill("Does the embedded form work on a page with hostile CSS?");
    await page.getByRole("button", { name: "Send request" }).click();

    const accepted = page.getByRole("heading", { name: "Request received" });
    const refused = page.getByText(/could not reach Flowboard support/);
    await Promise.race([accepted.waitFor(), refused.waitFor()]);
    if (await refused.isVisible()) {
      assert.fail(`the POST from ${HOST_PAGE_ORIGIN} was refused: is it in the edge's CORS_ORIGINS? (${browser.problems.join(" | ")})`);
    }
    const ticketId = (await page.getByTestId("ticket-id").textContent())?.trim();
    assert.match(ticketId ?? "", /^[0-9a-f-]{36}$/);
    const link = page.getByRole("link", { name: /View ticket status/ });
    assert.equal(await link.getAttribute("href"), `${EDGE_URL}/webform/index.html#/ticket/${ticketId}`);
    assert.equal(await link.getAttribute("target"), "_blank");

    // The inline status polls the edge across origins too.
    await page.getByText(/last checked/).waitFor({ timeout: 30_000 });
    const status = await page.getByTestId("ticket-status").getAttribute("data-status");
    assert.ok(["received", "open", "processing", "answered", "escalated", "resolved"].includes(status));
    await screenshot(page, "embed-hostile-submitted.png");
    assert.deepEqual(browser.problems, []);
  });
});
