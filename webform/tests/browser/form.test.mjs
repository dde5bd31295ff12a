// The standalone form and ticket view, in Debian's Chromium, against the real running stack
// (EDGE_URL). Run: npm run test:browser (needs the edge to serve webform/dist at /webform/).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  EDGE_URL,
  REPLY_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
  deepActiveElement,
  launchBrowser,
  requireEdge,
  screenshot,
  uniqueEmail,
} from "./lib.mjs";

const FORM_URL = `${EDGE_URL}/webform/index.html`;
const LIMITS = JSON.parse(readFileSync(new URL("../../src/limits.json", import.meta.url), "utf8")).fields;
const CONTROLS = ["name", "email", "category", "phone", "subject", "message"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("standalone support form", () => {
  let browser;

  before(async () => {
    await requireEdge();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  test("fill and submit, then the agent's reply appears on the ticket page", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 1280, height: 900 });
    await page.goto(FORM_URL);
    await page.getByRole("heading", { name: "Contact support" }).waitFor();
    await screenshot(page, "form-desktop.png");

    const subject = "How do I reset my password?";
    const message = "Hello, I forgot my Flowboard password and cannot log in. How can I reset it?";
    await page.getByLabel("Your name").fill("Browser Test");
    await page.getByLabel("Email").fill(uniqueEmail("reply"));
    await page.getByLabel("Category").selectOption("technical");
    await page.getByLabel("Subject").fill(subject);
    await page.getByLabel("How can we help?").fill(message);
    await page.getByRole("button", { name: "Send request" }).click();

    await page.getByRole("heading", { name: "Request received" }).waitFor();
    const ticketId = (await page.getByTestId("ticket-id").textContent())?.trim();
    assert.match(ticketId ?? "", UUID, "the success panel shows the ticket id");
    await screenshot(page, "submitted-desktop.png");

    const statusLink = page.getByRole("link", { name: "View ticket status" });
    assert.equal(await statusLink.getAttribute("href"), `#/ticket/${ticketId}`);
    await statusLink.click();
    await page.waitForURL(`**/webform/index.html#/ticket/${ticketId}`);

    // Fresh tickets read "received" (never an error) until the pipeline stores them.
    const badge = page.getByTestId("ticket-status");
    const firstStatus = await badge.getAttribute("data-status");
    assert.ok(
      ["received", "open", "processing", "answered", "escalated", "resolved"].includes(firstStatus),
      `unexpected first status ${firstStatus}`,
    );
    assert.equal(await page.getByRole("heading", { name: "Ticket not found" }).count(), 0);

    const reply = page.locator('li[data-role="agent"]').first();
    await reply.waitFor({ timeout: REPLY_TIMEOUT_MS });
    assert.ok(((await reply.textContent()) ?? "").length > 30, "the agent's reply has content");
    const customer = page.locator('li[data-role="customer"]').first();
    assert.match((await customer.textContent()) ?? "", /forgot my Flowboard password/);
    const finalStatus = await badge.getAttribute("data-status");
    assert.ok(["answered", "escalated", "resolved"].includes(finalStatus), `status after the reply: ${finalStatus}`);
    await page.getByRole("heading", { name: subject }).waitFor();
    await screenshot(page, "ticket-answered-desktop.png");

    await page.setViewportSize({ width: 320, height: 800 });
    assert.ok(await fitsWidth(page, 320), "the ticket view fits 320 px without horizontal scrolling");
    await screenshot(page, "ticket-answered-320.png");
    assert.deepEqual(browser.problems, []);
  });

  test("an invalid email gets a field error, keyboard only, at 320 px, without layout shift", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 320, height: 720 });
    await page.goto(FORM_URL);
    await page.getByRole("heading", { name: "Contact support" }).waitFor();
    assert.ok(await fitsWidth(page, 320), "the form fits 320 px without horizontal scrolling");
    await screenshot(page, "form-320.png");

    // Tab from the top of the page: brand link, then the fields in order.
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    assert.equal((await deepActiveElement(page))?.name, "name");
    await page.keyboard.type("Keyboard User");
    await page.keyboard.press("Tab");
    assert.equal((await deepActiveElement(page))?.name, "email");
    await page.keyboard.type("not-an-email");
    await page.keyboard.press("Tab");
    assert.equal((await deepActiveElement(page))?.name, "category");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Tab");
    assert.equal((await deepActiveElement(page))?.name, "phone");
    await page.keyboard.press("Tab");
    await page.keyboard.type("Keyboard only submission");
    await page.keyboard.press("Tab");
    assert.equal((await deepActiveElement(page))?.name, "message");
    await page.keyboard.type("Everything here was typed without a mouse.");
    await page.keyboard.press("Tab");
    assert.equal((await deepActiveElement(page))?.text, "Send request");

    const email = page.getByLabel("Email");
    const button = page.getByRole("button", { name: "Send request" });
    const messageBox = page.getByLabel("How can we help?");
    const before = { button: await pageBox(button), message: await pageBox(messageBox) };
    // The button has a visible focus ring.
    const outline = await button.evaluate((el) => getComputedStyle(el).outlineStyle);
    assert.equal(outline, "solid", "focused button shows an outline");

    await page.keyboard.press("Enter");

    const error = page.getByText("Enter a valid email address");
    await error.waitFor();
    assert.equal(await email.getAttribute("aria-invalid"), "true");
    assert.equal(await error.evaluate((el) => el.closest("[aria-live]")?.getAttribute("aria-live")), "polite");
    const describedBy = (await email.getAttribute("aria-describedby")) ?? "";
    assert.ok(describedBy.split(" ").includes(await error.evaluate((el) => el.closest("p").id)), "error is the field's description");
    assert.equal((await deepActiveElement(page))?.name, "email", "focus moves to the field with the error");
    assert.equal(await page.getByRole("alert").filter({ hasText: "Please check" }).count(), 1);

    const afterBoxes = { button: await pageBox(button), message: await pageBox(messageBox) };
    assert.deepEqual(afterBoxes, before, "showing the error moved nothing");
    assert.ok(await fitsWidth(page, 320));
    await screenshot(page, "error-320.png");

    // Fixed in place, the error goes away as the customer types.
    await email.fill("keyboard.user@example.com");
    await page.waitForFunction(() => true);
    assert.equal(await email.getAttribute("aria-invalid"), null);
    assert.deepEqual(browser.problems, []);
  });

  test("every input shows a visible focus indicator when tabbed into", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 1280, height: 900 });
    await page.goto(FORM_URL);
    await page.getByRole("heading", { name: "Contact support" }).waitFor();
    const unfocused = {};
    for (const name of CONTROLS) unfocused[name] = await focusIndicator(page.locator(`[name="${name}"]`));

    await page.keyboard.press("Tab"); // the brand link
    for (const name of CONTROLS) {
      await page.keyboard.press("Tab");
      assert.equal((await deepActiveElement(page))?.name, name, "tab order follows the fields");
      const focused = await focusIndicator(page.locator(`[name="${name}"]`));
      assert.ok(focused.visible, `${name}: no focus indicator (${JSON.stringify(focused)})`);
      assert.notDeepEqual(focused, unfocused[name], `${name}: focus changes nothing visible`);
    }
    await page.keyboard.press("Tab");
    const button = page.getByRole("button", { name: "Send request" });
    assert.ok((await focusIndicator(button)).visible, "the submit button shows focus too");
    await screenshot(page, "focus-submit-desktop.png");
    assert.deepEqual(browser.problems, []);
  });

  test("a pricing question is escalated to a human, and the ticket view says so", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 1280, height: 900 });
    await page.goto(FORM_URL);
    await page.getByLabel("Your name").fill("Pricing Asker");
    await page.getByLabel("Email").fill(uniqueEmail("pricing"));
    await page.getByLabel("Category").selectOption("billing");
    await page.getByLabel("Subject").fill("Business plan pricing");
    await page.getByLabel("How can we help?").fill("How much does the Business plan cost per user per month? Is there a discount for 50 seats?");
    await page.getByRole("button", { name: "Send request" }).click();
    await page.getByRole("heading", { name: "Request received" }).waitFor();
    const ticketId = (await page.getByTestId("ticket-id").textContent())?.trim();
    await page.getByRole("link", { name: "View ticket status" }).click();
    await page.waitForURL(`**/webform/index.html#/ticket/${ticketId}`);

    const escalated = page.locator('[data-testid="ticket-status"][data-status="escalated"]');
    await escalated.waitFor({ timeout: REPLY_TIMEOUT_MS });
    assert.equal((await escalated.textContent())?.trim(), "Escalated to a human");
    await page.getByRole("status").filter({ hasText: "A member of our support team is taking over" }).waitFor();
    await page.getByText("With our team").waitFor();
    const handover = page.locator('li[data-role="agent"], li[data-role="human"]').last();
    assert.match((await handover.textContent()) ?? "", /sales team/, "the reply says who takes over");
    assert.doesNotMatch((await handover.textContent()) ?? "", /[$€]\s?\d/, "and quotes no price");
    await screenshot(page, "ticket-escalated-desktop.png");
    assert.deepEqual(browser.problems, []);
  });

  test("at 320 px no error, client or server, however long, moves the fields", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 320, height: 720 });
    await page.goto(FORM_URL);
    await page.getByRole("heading", { name: "Contact support" }).waitFor();
    const send = page.getByRole("button", { name: "Send request" });
    const layout = () => controlBoxes(page);
    const before = await layout();

    // Every required field's "missing" message at once.
    await send.click();
    await page.getByText("Enter your email address").waitFor();
    assert.deepEqual(await shownErrors(page), {
      name: { text: "Enter your name", clamped: false },
      email: { text: "Enter your email address", clamped: false },
      category: { text: "Choose a category", clamped: false },
      subject: { text: "Enter a subject", clamped: false },
      message: { text: "Tell us how we can help", clamped: false },
    });
    assert.deepEqual(await layout(), before, "required-field errors moved nothing");

    // The longest client messages: over every limit, and a phone number that cannot be one.
    const over = (field) => "x".repeat(LIMITS[field].maxLength + 1);
    await page.getByLabel("Your name").fill(over("name"));
    await page.getByLabel("Email").fill(`${"a".repeat(LIMITS.email.maxLength)}@example.com`);
    await page.getByLabel("Phone (optional)").fill("12");
    await page.getByLabel("Subject").fill(over("subject"));
    await page.getByLabel("How can we help?").fill(over("message"));
    await send.click();
    await page.getByText(`Use at most ${LIMITS.message.maxLength} characters`).waitFor();
    const longClient = await shownErrors(page);
    assert.deepEqual(Object.keys(longClient).sort(), ["category", "email", "message", "name", "phone", "subject"]);
    for (const [field, shown] of Object.entries(longClient)) assert.equal(shown.clamped, false, `${field}: ${shown.text}`);
    assert.deepEqual(await layout(), before, "the longest client errors moved nothing");
    assert.ok(await fitsWidth(page, 320));
    await screenshot(page, "error-client-longest-320.png");

    // The longest server messages: a phone number libphonenumber cannot parse, and an e-mail
    // domain only the server's IDNA check refuses; both come back in one real 422.
    await page.getByLabel("Your name").fill("Narrow Screen");
    const email = uniqueEmail("narrow").replace("@example.com", "@xn--a.com");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Category").selectOption("billing");
    await page.getByLabel("Phone (optional)").fill("+999 1234 5678");
    await page.getByLabel("Subject").fill("Layout check at 320 px");
    await page.getByLabel("How can we help?").fill("Both of these values pass the form and only the server refuses them.");
    assert.deepEqual(await shownErrors(page), {}, "the form itself accepts these values");
    await send.click();
    await page.getByText(/not valid IDNA/).waitFor({ timeout: 15_000 });
    const server = await shownErrors(page);
    assert.deepEqual(Object.keys(server).sort(), ["email", "phone"]);
    assert.equal(server.phone.text, "Not a phone number. Use the format +351\u00a0912\u00a0345\u00a0678");
    assert.equal(server.phone.clamped, false, "the phone message is shown whole");
    // Too long for the reserved lines: clamped on screen, whole for screen readers and on hover.
    assert.match(server.email.text, /^The part after the @-sign is not valid IDNA \(.{20,}\)$/);
    assert.equal(server.email.clamped, true);
    assert.equal(server.email.title, server.email.text);
    const emailInput = page.getByLabel("Email");
    const describedBy = ((await emailInput.getAttribute("aria-describedby")) ?? "").split(" ");
    assert.ok(describedBy.includes(server.email.id), "the whole message is the field's description");
    assert.equal(server.email.live, "polite");
    assert.deepEqual(await layout(), before, "the longest server errors moved nothing");
    assert.ok(await fitsWidth(page, 320));
    assert.equal(await page.getByRole("heading", { name: "Request received" }).count(), 0);
    await screenshot(page, "error-server-longest-320.png");
    assert.deepEqual(browser.problems.filter((p) => !/422/.test(p)), []);
  });

  test("a value only the server rejects (phone) comes back as a 422 next to that field", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage({ width: 1280, height: 900 });
    await page.goto(FORM_URL);
    await page.getByLabel("Your name").fill("Server Check");
    await page.getByLabel("Email").fill(uniqueEmail("server422"));
    await page.getByLabel("Category").selectOption("billing");
    // Nine digits look like a phone number, but the edge parses them as a US number: invalid.
    await page.getByLabel("Phone (optional)").fill("912 345 678");
    await page.getByLabel("Subject").fill("Phone number check");
    await page.getByLabel("How can we help?").fill("The server decides whether this phone number exists.");
    await page.getByRole("button", { name: "Send request" }).click();

    const phone = page.getByLabel("Phone (optional)");
    await page.waitForFunction(
      () => {
        const host = document.querySelector("flowboard-support");
        return host?.shadowRoot?.querySelector('[name="phone"][aria-invalid="true"]') != null;
      },
      null,
      { timeout: 15_000 },
    );
    const describedBy = ((await phone.getAttribute("aria-describedby")) ?? "").split(" ");
    const errorId = describedBy.find((id) => id.endsWith("-error"));
    const errorText = await page.locator(`#${errorId}`).textContent();
    assert.match(errorText ?? "", /phone number/i);
    assert.equal(await page.getByLabel("Email").getAttribute("aria-invalid"), null);
    assert.equal(await page.getByRole("heading", { name: "Request received" }).count(), 0);
    await screenshot(page, "error-server-422-desktop.png");
    assert.deepEqual(browser.problems.filter((p) => !/422/.test(p)), []);
  });
});

/** Position in the document (focus moves may scroll the viewport; that is not layout shift). */
async function pageBox(locator) {
  return locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height };
  });
}

/** What shows focus on a control: its outline and box shadow, and whether either is visible. */
async function focusIndicator(locator) {
  return locator.evaluate((el) => {
    const cs = getComputedStyle(el);
    const outline = `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`;
    const visible = (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== "none";
    return { outline, boxShadow: cs.boxShadow, visible };
  });
}

/** Document positions of every control and the submit button, rounded to whole pixels. */
async function controlBoxes(page) {
  const boxes = {};
  for (const name of CONTROLS) boxes[name] = await pageBox(page.locator(`[name="${name}"]`));
  boxes.submit = await pageBox(page.getByRole("button", { name: /Send request|Sending/ }));
  for (const box of Object.values(boxes)) for (const k of Object.keys(box)) box[k] = Math.round(box[k]);
  return boxes;
}

/** The error under each field that shows one: its whole text and whether the screen cuts it short. */
async function shownErrors(page) {
  return page.evaluate(() => {
    const root = document.querySelector("flowboard-support").shadowRoot;
    const out = {};
    for (const field of root.querySelectorAll(".fb-field")) {
      const error = field.querySelector(".fb-error");
      const text = error.querySelector(".fb-error-text");
      if (!text) continue;
      const name = field.querySelector("[name]").getAttribute("name");
      const entry = { text: text.textContent, clamped: text.scrollHeight > text.clientHeight + 1 };
      if (entry.clamped) Object.assign(entry, { id: error.id, title: error.title, live: error.getAttribute("aria-live") });
      out[name] = entry;
    }
    return out;
  });
}

async function fitsWidth(page, width) {
  return page.evaluate((w) => document.documentElement.scrollWidth <= w, width);
}
