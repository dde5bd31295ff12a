import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TicketOutcome, TicketView } from "../../src/api";
import { createPoller, DEFAULT_BACKOFF, nextDelay, type PollerEvent } from "../../src/poller";

const ID = "6f1c0d8e-1111-4222-8333-444455556666";

function ticket(status: string, messages: number): TicketOutcome {
  const view: TicketView = {
    ticket_id: ID,
    status,
    subject: "Export",
    messages: Array.from({ length: messages }, (_, i) => ({
      role: i === 0 ? "customer" : "agent",
      channel: "web_form",
      content: `m${i}`,
      time: `2025-01-01T00:00:0${i}Z`,
    })),
    created_at: null,
    updated_at: null,
  };
  return { kind: "ok", ticket: view };
}

/** Runs the poller on fake timers and records when each fetch happened. */
function harness(answers: TicketOutcome[], options = {}) {
  const calls: number[] = [];
  const events: PollerEvent[] = [];
  const start = Date.now();
  let i = 0;
  const poller = createPoller({
    fetchOnce: async () => {
      calls.push(Date.now() - start);
      return answers[Math.min(i++, answers.length - 1)];
    },
    onEvent: (e) => events.push(e),
    options,
  });
  return { poller, calls, events };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("backoff", () => {
  it("grows by the factor up to the cap, and resets on change", () => {
    const o = { ...DEFAULT_BACKOFF, initialMs: 1000, factor: 2, maxMs: 5000 };
    expect(nextDelay(null, false, o)).toBe(1000);
    expect(nextDelay(1000, false, o)).toBe(2000);
    expect(nextDelay(4000, false, o)).toBe(5000);
    expect(nextDelay(5000, false, o)).toBe(5000);
    expect(nextDelay(5000, true, o)).toBe(1000);
  });

  it("polls at 1 s, then slower while nothing changes, capped", async () => {
    const { poller, calls } = harness([ticket("received", 0)], { initialMs: 1000, factor: 2, maxMs: 4000 });
    poller.start();
    await vi.advanceTimersByTimeAsync(1000 + 2000 + 4000 + 4000 + 10);
    // first check at once, then gaps of 1, 2, 4, 4 seconds
    expect(calls).toEqual([0, 1000, 3000, 7000, 11000]);
    poller.stop();
  });

  it("goes back to the quick interval when the conversation grows", async () => {
    const answers = [ticket("received", 0), ticket("received", 0), ticket("received", 0), ticket("processing", 1), ticket("processing", 1)];
    const { poller, calls, events } = harness(answers, { initialMs: 1000, factor: 2, maxMs: 8000 });
    poller.start();
    await vi.advanceTimersByTimeAsync(1000 + 2000 + 4000 + 1000 + 10);
    expect(calls).toEqual([0, 1000, 3000, 7000, 8000]);
    const changes = events.filter((e) => e.type === "ticket" && e.changed).length;
    expect(changes).toBe(2); // first sight, then processing with the customer's message
    poller.stop();
  });

  it("waits at least the server's Retry-After on trouble", async () => {
    const answers: TicketOutcome[] = [{ kind: "retry", reason: "HTTP 503", retryAfterMs: 5000 }, ticket("received", 0)];
    const { poller, calls, events } = harness(answers, { initialMs: 1000 });
    poller.start();
    await vi.advanceTimersByTimeAsync(5010);
    expect(calls).toEqual([0, 5000]);
    expect(events[0]).toEqual({ type: "trouble", reason: "HTTP 503", retryInMs: 5000 });
    poller.stop();
  });

  it("keeps polling a not-yet-stored ticket with backoff, then shows it once stored", async () => {
    const pending: TicketOutcome = { kind: "pending", reason: "HTTP 404" };
    const { poller, calls, events } = harness([pending, pending, pending, ticket("processing", 1)], { initialMs: 1000, factor: 2, maxMs: 8000 });
    poller.start();
    await vi.advanceTimersByTimeAsync(1000 + 2000 + 4000 + 10);
    expect(calls).toEqual([0, 1000, 3000, 7000]);
    expect(events.slice(0, 3)).toEqual(Array(3).fill({ type: "pending", reason: "HTTP 404" }));
    expect(events[3]).toMatchObject({ type: "ticket", changed: true });
    expect(poller.running).toBe(true);
    poller.stop();
  });

  it("stops at a resolved ticket, and on a fatal answer", async () => {
    const done = harness([ticket("resolved", 2)]);
    done.poller.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(done.calls).toHaveLength(1);
    expect(done.events.at(-1)).toEqual({ type: "stopped", why: "final" });

    const bad = harness([{ kind: "fatal", reason: "HTTP 422" }]);
    bad.poller.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(bad.calls).toHaveLength(1);
    expect(bad.poller.running).toBe(false);
  });

  it("pauses after a long quiet spell; Check now resumes at the quick interval", async () => {
    const { poller, calls, events } = harness([ticket("answered", 2)], { initialMs: 1000, factor: 2, maxMs: 4000, idleStopMs: 10_000 });
    poller.start();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(events.at(-1)).toEqual({ type: "stopped", why: "idle" });
    const before = calls.length;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(calls.length).toBe(before);
    poller.checkNow();
    await vi.advanceTimersByTimeAsync(1010);
    expect(calls.length).toBe(before + 2);
    poller.stop();
  });

  it("does nothing after stop, even when a request was in flight", async () => {
    let release: (v: TicketOutcome) => void = () => {};
    const events: PollerEvent[] = [];
    const poller = createPoller({ fetchOnce: () => new Promise((r) => (release = r)), onEvent: (e) => events.push(e) });
    poller.start();
    poller.stop();
    release(ticket("answered", 2));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(events).toEqual([]);
  });
});
