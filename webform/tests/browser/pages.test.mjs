// The pages the edge itself serves from webform/dist: the standalone form at /webform/ and the
// demo host page at /webform/demo.html, which must render the form from its one script tag and
// submit through it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EDGE_URL, launchBrowser, requireEdge, screenshot, TEST_TIMEOUT_MS, uniqueEmail } from "./lib.mjs";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("pages served by the edge", () => {
  let browser;

  before(async () => {
    await requireEdge();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  test("/webform/ and /webform/demo.html are HTML pages that load embed.js exactly once", { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const path of ["/webform/", "/webform/demo.html"]) {
      const response = await fetch(`${EDGE_URL}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get("content-type") ?? "", /^text\/html/, path);
      const html = await response.text();
      assert.equal(html.match(/<script\b[^>]*\bsrc="[^"]*embed\.js"/g)?.length, 1, `${path}: one embed.js script tag`);
    }
  });

  test("/webform/ shows the standalone form", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 1024, height: 900 });
    await page.goto(`${EDGE_URL}/webform/`);
    await page.getByRole("heading", { name: "Contact support", level: 1 }).waitFor();
    assert.equal(await page.locator("flowboard-support").count(), 1);
    assert.deepEqual(browser.problems, []);
  });

  test("the demo host page renders the form from its one script tag and submits", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 1024, height: 900 });
    await page.goto(`${EDGE_URL}/webform/demo.html`);
    // The host page has its own "Contact support" heading; the form's is the one inside the widget.
    await page.locator("flowboard-support").getByRole("heading", { name: "Contact support" }).waitFor();
    const dom = await page.evaluate(() => ({
      scripts: document.querySelectorAll('script[src*="embed.js"]').length,
      hosts: document.querySelectorAll("flowboard-support").length,
      // The form lands where the tag stands: right after it, inside the host page's <main>.
      placedAfterTag: document.querySelector('script[src*="embed.js"]').nextElementSibling?.tagName.toLowerCase(),
      // The demo's own serif look is untouched by the widget's CSS.
      hostFont: getComputedStyle(document.body).fontFamily,
    }));
    assert.equal(dom.scripts, 1);
    assert.equal(dom.hosts, 1);
    assert.equal(dom.placedAfterTag, "flowboard-support");
    assert.match(dom.hostFont, /Georgia/);
    await screenshot(page, "demo-form.png");

    await page.getByLabel("Your name").fill("Demo Page");
    await page.getByLabel("Email").fill(uniqueEmail("demo"));
    await page.getByLabel("Category").selectOption("feedback");
    await page.getByLabel("Subject").fill("Sent from the demo host page");
    await page.getByLabel("How can we help?").fill("The demo page's one script tag gave me this form, and it sends.");
    await page.getByRole("button", { name: "Send request" }).click();

    await page.getByRole("heading", { name: "Request received" }).waitFor();
    const ticketId = (await page.getByTestId("ticket-id").textContent())?.trim();
    assert.match(ticketId ?? "", UUID);
    const link = page.getByRole("link", { name: /View ticket status/ });
    assert.equal(await link.getAttribute("href"), `${EDGE_URL}/webform/index.html#/ticket/${ticketId}`);
    // The edge knows the ticket the demo page sent.
    const view = await (await fetch(`${EDGE_URL}/support/ticket/${ticketId}`)).json();
    assert.equal(view.ticket_id, ticketId);
    await screenshot(page, "demo-submitted.png");
    assert.deepEqual(browser.problems, []);
  });
});
