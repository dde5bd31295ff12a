import { act, render, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fetchTicket, type TicketOutcome, type TicketView } from "../../src/api";
import { TicketStatus } from "../../src/components/TicketStatus";

const ID = "6f1c0d8e-1111-4222-8333-444455556666";
const customer = { role: "customer", channel: "web_form", content: "My export is empty.", time: "2025-03-01T10:00:00Z" };
const agent = { role: "agent", channel: "web_form", content: "Try Settings → Export again.", time: "2025-03-01T10:00:20Z" };
const human = { role: "human", channel: "web_form", content: "Hi, Sam from support here.", time: "2025-03-01T11:00:00Z" };

function view(status: string, messages: TicketView["messages"] = []): TicketOutcome {
  return {
    kind: "ok",
    ticket: { ticket_id: ID, status, subject: messages.length ? "Export is empty" : "", messages, created_at: null, updated_at: null },
  };
}

/** A fetch that answers from a script the test advances. */
function scripted(...answers: TicketOutcome[]) {
  let i = 0;
  return vi.fn(async () => answers[Math.min(i++, answers.length - 1)]);
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

async function settle(ms = 0) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

describe("ticket status view", () => {
  it("shows a fresh, not yet stored ticket as received, never as an error", async () => {
    render(<TicketStatus api="http://edge" ticketId={ID} fetchOnce={scripted(view("received"))} />);
    await settle();
    expect(screen.getByTestId("ticket-status")).toHaveTextContent("Received");
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.getByRole("status")).toHaveTextContent(/in the queue/);
    expect(screen.getByText(/Your message will appear here/)).toBeTruthy();
  });

  it("treats a real HTTP 404 for its own ticket as received: keeps polling, and says so honestly when slow", async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ detail: "Not Found" }), { status: 404, headers: { "Content-Type": "application/json" } }));
    vi.stubGlobal("fetch", fetchMock);
    try {
      render(<TicketStatus api="http://edge" ticketId={ID} fetchOnce={fetchTicket} backoff={{ initialMs: 1000, factor: 2, maxMs: 30_000 }} />);
      await settle();
      expect(fetchMock).toHaveBeenCalledTimes(1);
      expect(screen.getByTestId("ticket-status")).toHaveTextContent("Received");
      expect(screen.getByRole("status")).toHaveTextContent(/in the queue/);
      expect(screen.queryByRole("alert")).toBeNull();
      expect(screen.queryByText(/not found/i)).toBeNull();

      await settle(1000 + 2000 + 4000);
      expect(fetchMock).toHaveBeenCalledTimes(4); // backoff: 1 s, 2 s, 4 s
      expect(screen.getByText(/last checked/)).toBeTruthy();

      await settle(6 * 60_000);
      expect(screen.getByTestId("ticket-status")).toHaveTextContent("Received");
      expect(screen.getByRole("status")).toHaveTextContent(/taking longer than usual.*not lost/);
      expect(screen.queryByText(/not found/i)).toBeNull();
      // Backed off to the cap instead of hammering the edge: ~6 minutes at most every 30 s.
      expect(fetchMock.mock.calls.length).toBeLessThan(4 + 6 * 2 + 3);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("grows the conversation as polling sees it: received → processing → answered", async () => {
    const fetchOnce = scripted(view("received"), view("processing", [customer]), view("answered", [customer, agent]));
    render(<TicketStatus api="http://edge" ticketId={ID} fetchOnce={fetchOnce} backoff={{ initialMs: 1000 }} />);
    await settle();
    expect(screen.getByTestId("ticket-status")).toHaveTextContent("Received");

    await settle(1000);
    expect(screen.getByTestId("ticket-status")).toHaveTextContent("Processing");
    expect(screen.getByRole("status")).toHaveTextContent(/working on a reply/);
    const log = screen.getByRole("log");
    expect(within(log).getAllByRole("listitem")).toHaveLength(1);
    expect(log).toHaveTextContent("My export is empty.");

    await settle(1000);
    expect(screen.getByTestId("ticket-status")).toHaveTextContent("Answered");
    const items = within(screen.getByRole("log")).getAllByRole("listitem");
    expect(items.map((li) => li.getAttribute("data-role"))).toEqual(["customer", "agent"]);
    expect(items[1]).toHaveTextContent("Flowboard assistant (AI)");
    expect(items[1]).toHaveTextContent("Try Settings → Export again.");
    expect(screen.getByRole("heading", { name: "Export is empty" })).toBeTruthy();
  });

  it("says plainly when a person takes over", async () => {
    render(<TicketStatus api="http://edge" ticketId={ID} fetchOnce={scripted(view("escalated", [customer, human]))} />);
    await settle();
    expect(screen.getByTestId("ticket-status")).toHaveTextContent("Escalated to a human");
    expect(screen.getByRole("status")).toHaveTextContent(/member of our support team/);
    expect(screen.getByText("With our team")).toBeTruthy();
    expect(within(screen.getByRole("log")).getAllByRole("listitem")[1]).toHaveTextContent("Flowboard support team");
  });

  it("admits a long wait honestly", async () => {
    const created = new Date(Date.now() - 10 * 60_000).toISOString();
    const slow: TicketOutcome = { kind: "ok", ticket: { ...(view("processing", [customer]) as { ticket: TicketView }).ticket, created_at: created } };
    render(<TicketStatus api="http://edge" ticketId={ID} fetchOnce={scripted(slow)} />);
    await settle();
    expect(screen.getByRole("status")).toHaveTextContent(/taking longer than usual/);
  });

  it("shows connection trouble as a retry, keeping the last known state", async () => {
    const fetchOnce = scripted(view("processing", [customer]), { kind: "retry", reason: "network" });
    render(<TicketStatus api="http://edge" ticketId={ID} fetchOnce={fetchOnce} backoff={{ initialMs: 1000 }} />);
    await settle();
    await settle(1000);
    expect(screen.getByText(/Having trouble reaching support; trying again in/)).toBeTruthy();
    expect(screen.getByTestId("ticket-status")).toHaveTextContent("Processing");
  });

  it("does not poll a malformed id and says the link is wrong", async () => {
    const fetchOnce = scripted(view("received"));
    render(<TicketStatus api="http://edge" ticketId="not-a-ticket" fetchOnce={fetchOnce} />);
    await settle(5000);
    expect(fetchOnce).not.toHaveBeenCalled();
    expect(screen.getByRole("heading", { name: "Ticket not found" })).toBeTruthy();
  });
});
