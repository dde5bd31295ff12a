// The operator inbox in Chromium against the real stack: a web-form customer's pricing question
// is escalated by the agent; an operator signs in with a key, finds it in the queue with the time
// left, reads the cross-channel history and the agent's note, claims, replies and resolves — at
// 1280 px with the mouse and at 375 px with the keyboard only. The customer's ticket page shows
// the person's reply. With INBOX_OIDC_EMAIL set, an operator also signs in with the company
// account (the identity provider's redirect, code + PKCE) and claims as that person. Screenshots
// go to artifacts/inbox/.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AGENT_KEY, DESKTOP, EDGE_URL, focusVisible, launchBrowser, OIDC_EMAIL, OIDC_SUBJECT, PHONE, requireEdge, screenshot, submitPricingQuestion,
  tabTo, TEST_TIMEOUT_MS, waitForEscalation,
} from "./lib.mjs";

const INBOX_URL = `${EDGE_URL}/inbox/`;

async function customerSees(ticketId, text) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const view = await (await fetch(`${EDGE_URL}/support/ticket/${ticketId}`)).json();
    if (view.messages.some((m) => m.role === "human" && m.content.includes(text))) return view;
    if (Date.now() > deadline) throw new Error(`the ticket page never showed the reply: ${JSON.stringify(view)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function noSideways(page) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  assert.ok(scroll <= width, `the page scrolls sideways: ${scroll} > ${width}`);
}

describe("operator inbox", () => {
  let browser;

  before(async () => {
    await requireEdge();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  test("a refused key is said on the sign-in page", { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await browser.newPage(PHONE);
    await page.goto(INBOX_URL);
    await page.getByRole("heading", { name: "Support inbox" }).waitFor();
    await screenshot(page, "signin-375.png");
    await page.getByLabel("API key").fill("fte_0123456789abcdef_not-a-real-key");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("alert").filter({ hasText: "That key was refused" }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await screenshot(page, "signin-refused-375.png");
  });

  test("at 1280 px: follow the notifier's link, sign in, find the escalation in the queue, claim, reply, resolve, reopen", { timeout: TEST_TIMEOUT_MS }, async () => {
    const name = `Desk ${Date.now().toString(36)}`;
    const ticketId = await submitPricingQuestion(name);
    const queued = await waitForEscalation(ticketId);

    // Arriving by the link the notifier sends the team: after signing in, that escalation is open.
    const page = await browser.newPage(DESKTOP);
    await page.goto(`${INBOX_URL}#/escalations/${queued.escalation_id}`);
    await page.getByLabel("API key").fill(AGENT_KEY);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { name: "Queue" }).waitFor();
    await page.getByRole("heading", { level: 2, name: new RegExp(name) }).waitFor();

    const team = page.getByRole("region", { name: new RegExp(queued.team) });
    const item = team.getByRole("link", { name: new RegExp(name) });
    await item.waitFor();
    assert.match(await item.textContent(), /min left|h left|d left|breached/);
    await screenshot(page, "queue-desktop.png");

    await item.click();
    const heading = page.getByRole("heading", { level: 2, name: new RegExp(name) });
    await heading.waitFor();
    const history = page.getByRole("region", { name: "History on every channel" });
    await history.getByText("How much does the Business plan cost").waitFor();
    assert.ok(await page.getByRole("region", { name: "Agent's note" }).isVisible());
    // Side by side at 1280: the queue stays visible next to the conversation.
    assert.ok(await item.isVisible());
    await noSideways(page);
    await screenshot(page, "escalation-desktop.png");

    await page.getByRole("button", { name: "Claim" }).click();
    await page.getByText(/Claimed by .* \(you\)/).waitFor();

    const reply = `Hello ${name}, our sales team can offer 15% for 50 seats.`;
    await page.getByLabel("Reply to the customer").fill(reply);
    await page.getByRole("button", { name: "Send reply" }).click();
    await page.getByText("Reply sent.").waitFor();
    await history.getByText(reply).waitFor();
    await screenshot(page, "replied-desktop.png");
    await customerSees(ticketId, "15% for 50 seats");

    await page.getByLabel("Resolution note").fill("Offered the volume discount.");
    await page.getByRole("button", { name: "Resolve" }).click();
    await page.getByRole("button", { name: "Reopen" }).waitFor();
    await page.getByText("Offered the volume discount.").waitFor();
    await screenshot(page, "resolved-desktop.png");

    await page.getByRole("button", { name: "Reopen" }).click();
    await page.getByRole("button", { name: "Claim" }).waitFor();
    await page.getByLabel("Resolution note").fill("Done after all.");
    await page.getByRole("button", { name: "Resolve" }).click();
    await page.getByRole("button", { name: "Reopen" }).waitFor();
    assert.deepEqual(browser.problems, []);
  });

  test("at 375 px with the keyboard only: sign in, open, claim, reply, resolve", { timeout: TEST_TIMEOUT_MS }, async () => {
    const name = `Phone ${Date.now().toString(36)}`;
    const ticketId = await submitPricingQuestion(name);
    await waitForEscalation(ticketId);

    const page = await browser.newPage(PHONE);
    await page.goto(INBOX_URL);
    // The key field has focus on arrival.
    await page.getByLabel("API key").waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), "credential");
    await page.keyboard.type(AGENT_KEY);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Queue" }).waitFor();
    await page.getByRole("link", { name: new RegExp(name) }).waitFor();
    await noSideways(page);
    await screenshot(page, "queue-375.png");

    await tabTo(page, `the queue item of ${name}`, (f) => f.tag === "a" && f.text.includes(name));
    assert.ok(await focusVisible(page), "the focused queue item shows its focus");
    await screenshot(page, "focus-item-375.png");
    await page.keyboard.press("Enter");
    // One pane at a time on a phone: the conversation replaces the queue, focus on its heading.
    const heading = page.getByRole("heading", { level: 2, name: new RegExp(name) });
    await heading.waitFor();
    await page.waitForFunction(() => document.activeElement?.id === "detail-title");
    assert.equal(await page.getByRole("heading", { name: "Queue" }).isVisible(), false);
    // Within this conversation's history: another customer's escalation (the queue, other
    // tests on the same stack) may ask a similar question.
    await page.getByRole("region", { name: "History on every channel" })
      .getByText("How much does the Business plan cost").waitFor();
    await noSideways(page);
    await screenshot(page, "escalation-375.png");

    await tabTo(page, "Claim", (f) => f.tag === "button" && f.text === "Claim");
    await page.keyboard.press("Enter");
    await page.getByText(/Claimed by .* \(you\)/).waitFor();

    await tabTo(page, "the reply box", (f) => f.tag === "textarea");
    const reply = `Hi ${name}, a person from sales here: 50 seats get 15% off.`;
    await page.keyboard.type(reply);
    await page.keyboard.press("Control+Enter");
    await page.getByText("Reply sent.").waitFor();
    await page.getByRole("region", { name: "History on every channel" }).getByText(reply).waitFor();
    await screenshot(page, "replied-375.png");
    await customerSees(ticketId, "50 seats get 15% off");

    await tabTo(page, "Resolve", (f) => f.tag === "button" && f.text === "Resolve");
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: "Reopen" }).waitFor();
    await noSideways(page);
    await screenshot(page, "resolved-375.png");

    // Back to the queue by keyboard: the resolved one has left it.
    await tabTo(page, "Back to the queue", (f) => f.tag === "a" && f.text.includes("Back to the queue"));
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Queue" }).waitFor();
    await page.getByRole("button", { name: "Refresh" }).waitFor();
    await page.waitForFunction((n) => ![...document.querySelectorAll(".item")].some((a) => a.textContent.includes(n)), name);
    assert.deepEqual(browser.problems, []);
  });
  test("company sign-in: the identity provider's round trip (code + PKCE), then claim as that person", {
    timeout: TEST_TIMEOUT_MS, skip: !OIDC_EMAIL && "set INBOX_OIDC_EMAIL (and INBOX_OIDC_SUBJECT) to the provider's person",
  }, async () => {
    const { oidc } = await (await fetch(`${EDGE_URL}/inbox/api/config`)).json();
    assert.ok(oidc, "the edge offers no identity provider (INBOX_OIDC_ISSUER, INBOX_OIDC_CLIENT_ID)");
    const name = `Oidc ${Date.now().toString(36)}`;
    const ticketId = await submitPricingQuestion(name);
    const queued = await waitForEscalation(ticketId);

    const page = await browser.newPage(DESKTOP);
    const atProvider = [];
    page.on("request", (r) => { if (r.url().startsWith(oidc.issuer)) atProvider.push({ method: r.method(), url: new URL(r.url()), body: r.postData() }); });
    await page.goto(INBOX_URL);
    await page.getByRole("button", { name: "Sign in with your company account" }).click();
    // Away to the provider (it consents at once) and back to /inbox/?code=…&state=…, exchanged.
    await page.getByRole("heading", { name: "Queue" }).waitFor();
    await page.locator(".me").filter({ hasText: OIDC_EMAIL }).waitFor();
    assert.match(await page.locator(".me").textContent(), /\(agent\)/);
    assert.equal(new URL(page.url()).search, "", "the code is stripped from the address bar");

    const authorize = atProvider.find((r) => r.url.pathname.endsWith("/authorize"));
    assert.ok(authorize, "the browser went to the provider's authorization endpoint");
    const asked = authorize.url.searchParams;
    assert.equal(asked.get("client_id"), oidc.client_id);
    assert.equal(asked.get("redirect_uri"), INBOX_URL);
    assert.equal(asked.get("code_challenge_method"), "S256");
    assert.match(asked.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
    const exchange = atProvider.find((r) => r.method === "POST" && r.url.pathname.endsWith("/token"));
    assert.ok(exchange, "the app exchanged the code at the token endpoint");
    const sent = new URLSearchParams(exchange.body);
    assert.equal(sent.get("grant_type"), "authorization_code");
    assert.match(sent.get("code_verifier"), /^[A-Za-z0-9_-]{43,128}$/);
    const token = await page.evaluate(() => sessionStorage.getItem("fte-inbox-credential"));
    assert.equal(token.split(".").length, 3, "the provider's JWT is the credential");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("fte-inbox-oidc-pending")), null);
    await screenshot(page, "oidc-queue-desktop.png");

    const item = page.getByRole("region", { name: new RegExp(queued.team) }).getByRole("link", { name: new RegExp(name) });
    await item.click();
    await page.getByRole("heading", { level: 2, name: new RegExp(name) }).waitFor();
    await page.getByRole("button", { name: "Claim" }).click();
    await page.getByText(`Claimed by ${OIDC_EMAIL} (you)`).waitFor();
    await screenshot(page, "oidc-claimed-desktop.png");

    // The service recorded the claim as the provider's person, not as a key.
    const detail = await (await fetch(`${EDGE_URL}/inbox/api/escalations/${queued.escalation_id}`, {
      headers: { Authorization: `Bearer ${token}` },
    })).json();
    assert.equal(detail.escalation.state, "claimed");
    assert.deepEqual(detail.escalation.owner, { subject: OIDC_SUBJECT, display_name: OIDC_EMAIL });

    await page.getByLabel("Resolution note").fill("Handled by the company sign-in test.");
    await page.getByRole("button", { name: "Resolve" }).click();
    await page.getByRole("button", { name: "Reopen" }).waitFor();
    assert.deepEqual(browser.problems, []);
  });
});
