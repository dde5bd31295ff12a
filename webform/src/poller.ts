// Polls GET /support/ticket/{id} with exponential backoff: quick while something is
// happening, slower while nothing changes, never faster than the server's Retry-After,
// and stops on its own (resolved ticket, unusable id, or a long quiet spell).
import type { TicketOutcome, TicketView } from "./api";

export interface BackoffOptions {
  /** First delay, and the delay after any change. */
  initialMs: number;
  factor: number;
  maxMs: number;
  /** Stop after this long without any change (the "Check now" button starts it again). */
  idleStopMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 1000,
  factor: 1.6,
  maxMs: 15_000,
  idleStopMs: 20 * 60_000,
};

/** Statuses after which nothing more will arrive. */
export const FINAL_STATUSES = new Set(["resolved"]);

export function nextDelay(previousMs: number | null, changed: boolean, options: BackoffOptions): number {
  if (previousMs === null || changed) return options.initialMs;
  return Math.min(Math.round(previousMs * options.factor), options.maxMs);
}

/** What the customer can see of a ticket; a change resets the backoff. */
export function ticketFingerprint(ticket: TicketView): string {
  const last = ticket.messages[ticket.messages.length - 1];
  return [ticket.status, ticket.messages.length, last?.time ?? "", last?.content.length ?? 0].join("|");
}

export type PollerEvent =
  | { type: "ticket"; ticket: TicketView; changed: boolean }
  | { type: "pending"; reason: string }
  | { type: "trouble"; reason: string; retryInMs: number }
  | { type: "fatal"; reason: string }
  | { type: "stopped"; why: "final" | "idle" };

export interface PollerDeps {
  fetchOnce: () => Promise<TicketOutcome>;
  onEvent: (event: PollerEvent) => void;
  options?: Partial<BackoffOptions>;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export interface Poller {
  start(): void;
  /** Check right away and go back to the quick interval. */
  checkNow(): void;
  stop(): void;
  readonly running: boolean;
  /** The delay before the next scheduled check (for display and tests). */
  readonly nextDelayMs: number | null;
}

export function createPoller(deps: PollerDeps): Poller {
  const options = { ...DEFAULT_BACKOFF, ...deps.options };
  const now = deps.now ?? (() => Date.now());
  const setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = deps.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));

  let timer: unknown = null;
  let running = false;
  let inFlight = false;
  let generation = 0;
  let delay: number | null = null;
  let fingerprint: string | null = null;
  let lastChangeAt = now();

  const schedule = (ms: number) => {
    if (timer !== null) clearTimer(timer);
    delay = ms;
    timer = setTimer(() => {
      timer = null;
      void tick();
    }, ms);
  };

  const halt = () => {
    running = false;
    generation++;
    if (timer !== null) clearTimer(timer);
    timer = null;
    delay = null;
  };

  const tick = async () => {
    if (!running || inFlight) return;
    inFlight = true;
    const myGeneration = generation;
    let outcome: TicketOutcome;
    try {
      outcome = await deps.fetchOnce();
    } catch (err) {
      outcome = { kind: "retry", reason: String(err) };
    } finally {
      inFlight = false;
    }
    if (!running || myGeneration !== generation) return;

    if (outcome.kind === "ok") {
      const print = ticketFingerprint(outcome.ticket);
      const changed = print !== fingerprint;
      fingerprint = print;
      if (changed) lastChangeAt = now();
      deps.onEvent({ type: "ticket", ticket: outcome.ticket, changed });
      if (FINAL_STATUSES.has(outcome.ticket.status)) {
        halt();
        deps.onEvent({ type: "stopped", why: "final" });
        return;
      }
      if (now() - lastChangeAt >= options.idleStopMs) {
        halt();
        deps.onEvent({ type: "stopped", why: "idle" });
        return;
      }
      schedule(nextDelay(delay, changed, options));
      return;
    }
    if (outcome.kind === "pending") {
      // Nothing new to show: back off as for an unchanged ticket, and stop on the same idle rule.
      deps.onEvent({ type: "pending", reason: outcome.reason });
      if (now() - lastChangeAt >= options.idleStopMs) {
        halt();
        deps.onEvent({ type: "stopped", why: "idle" });
        return;
      }
      schedule(nextDelay(delay, false, options));
      return;
    }
    if (outcome.kind === "fatal") {
      halt();
      deps.onEvent({ type: "fatal", reason: outcome.reason });
      return;
    }
    const backoff = nextDelay(delay, false, options);
    const wait = Math.max(backoff, outcome.retryAfterMs ?? 0);
    deps.onEvent({ type: "trouble", reason: outcome.reason, retryInMs: wait });
    schedule(wait);
  };

  return {
    start() {
      if (running) return;
      running = true;
      lastChangeAt = now();
      delay = null;
      void tick();
    },
    checkNow() {
      if (timer !== null) clearTimer(timer);
      timer = null;
      delay = null;
      lastChangeAt = now();
      if (!running) {
        running = true;
      }
      void tick();
    },
    stop: halt,
    get running() {
      return running;
    },
    get nextDelayMs() {
      return delay;
    },
  };
}
