import { useEffect, useId, useRef, useState } from "react";
import { fetchTicket, UUID_RE, type TicketOutcome, type TicketView } from "../api";
import { createPoller, type BackoffOptions, type Poller } from "../poller";
import { authorLabel, formatTime, statusInfo, stepLabels, waitMessage } from "../status";

export interface TicketStatusProps {
  api: string;
  ticketId: string;
  headingLevel?: 1 | 2 | 3;
  /** Focus the heading on mount (when the view replaces the page's content). */
  autoFocus?: boolean;
  /** Injected in tests. */
  fetchOnce?: (api: string, ticketId: string) => Promise<TicketOutcome>;
  backoff?: Partial<BackoffOptions>;
}

interface PollState {
  ticket: TicketView;
  checkedAt: number | null;
  trouble: { retryInMs: number } | null;
  fatal: boolean;
  stopped: "final" | "idle" | null;
}

export function TicketStatus({ api, ticketId, headingLevel = 2, autoFocus, fetchOnce = fetchTicket, backoff }: TicketStatusProps) {
  const uid = useId().replace(/[^a-zA-Z0-9_-]/g, "");
  const validId = UUID_RE.test(ticketId);
  // Until the first answer arrives the ticket is what the edge would say: received.
  const [state, setState] = useState<PollState>(() => ({
    ticket: { ticket_id: ticketId, status: "received", subject: "", messages: [], created_at: null, updated_at: null },
    checkedAt: null,
    trouble: null,
    fatal: !validId,
    stopped: null,
  }));
  const [openedAt] = useState(() => Date.now());
  const poller = useRef<Poller | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (autoFocus) heading.current?.focus();
  }, [autoFocus]);

  useEffect(() => {
    if (!validId) return;
    const p = createPoller({
      fetchOnce: () => fetchOnce(api, ticketId),
      options: backoff,
      onEvent: (event) => {
        setState((prev) => {
          switch (event.type) {
            case "ticket":
              return { ...prev, ticket: event.ticket, checkedAt: Date.now(), trouble: null, stopped: null };
            case "pending":
              // Still "received" (the initial state): the link is right, the ticket just isn't stored yet.
              return { ...prev, checkedAt: Date.now(), trouble: null, stopped: null };
            case "trouble":
              return { ...prev, trouble: { retryInMs: event.retryInMs } };
            case "fatal":
              return { ...prev, fatal: true };
            case "stopped":
              return { ...prev, stopped: event.why };
          }
        });
      },
    });
    poller.current = p;
    p.start();
    return () => p.stop();
    // `backoff` is read once per ticket on purpose: a new object each render must not restart polling.
  }, [api, ticketId, validId, fetchOnce]);

  const Heading = `h${headingLevel}` as "h1" | "h2" | "h3";
  const { ticket, checkedAt, trouble, fatal, stopped } = state;

  if (fatal) {
    return (
      <section className="fb-ticket" aria-labelledby={`fb-${uid}-ticket-title`}>
        <Heading className="fb-title" id={`fb-${uid}-ticket-title`} tabIndex={-1} ref={heading}>
          Ticket not found
        </Heading>
        <p className="fb-lead" role="alert">
          This link does not point to a ticket we can show. Check that you copied the whole link, or send a new
          request.
        </p>
      </section>
    );
  }

  const info = statusInfo(ticket.status);
  const steps = stepLabels(ticket.status);
  const createdMs = ticket.created_at ? Date.parse(ticket.created_at) : NaN;
  const waitedMs = Date.now() - (Number.isNaN(createdMs) ? openedAt : Math.min(createdMs, openedAt));

  return (
    <section className="fb-ticket" aria-labelledby={`fb-${uid}-ticket-title`} data-status={ticket.status}>
      <div className="fb-ticket-head">
        <Heading className="fb-title" id={`fb-${uid}-ticket-title`} tabIndex={-1} ref={heading}>
          {ticket.subject || "Your support request"}
        </Heading>
        <p className="fb-ticket-id">
          Ticket ID <code>{ticket.ticket_id}</code>
        </p>
      </div>

      <div className="fb-status-card">
        <p className="fb-status-line">
          <span className="fb-status-caption">Status</span>
          <span className={`fb-badge fb-badge--${info.tone}`} data-testid="ticket-status" data-status={ticket.status}>
            {info.label}
          </span>
        </p>
        <ol className="fb-steps" aria-label="Progress">
          {steps.map((label, index) => {
            const state = index < info.step ? "done" : index === info.step ? "current" : "todo";
            return (
              <li
                key={label}
                className={`fb-step fb-step--${state}${index === 2 && ticket.status === "escalated" ? " fb-step--human" : ""}`}
                aria-current={state === "current" ? "step" : undefined}
              >
                <span className="fb-step-dot" aria-hidden="true" />
                <span className="fb-step-label">{label}</span>
              </li>
            );
          })}
        </ol>
        <p className="fb-wait" role="status">
          {info.waiting && !stopped ? <span className="fb-pulse" aria-hidden="true" /> : null}
          <span>{waitMessage(ticket, waitedMs)}</span>
        </p>
      </div>

      <h3 className="fb-subtitle" id={`fb-${uid}-conv`}>
        Conversation
      </h3>
      <div className="fb-conversation" role="log" aria-labelledby={`fb-${uid}-conv`}>
        {ticket.messages.length === 0 ? (
          <p className="fb-empty">Your message will appear here in a moment, followed by our reply.</p>
        ) : (
          <ol className="fb-messages">
            {ticket.messages.map((m, index) => (
              <li key={`${m.time}-${index}`} className={`fb-message fb-message--${m.role}`} data-role={m.role}>
                <p className="fb-message-meta">
                  <span className="fb-message-author">{authorLabel(m.role)}</span>
                  {m.time ? (
                    <time className="fb-message-time" dateTime={m.time}>
                      {formatTime(m.time)}
                    </time>
                  ) : null}
                </p>
                <div className="fb-message-body">{m.content}</div>
              </li>
            ))}
          </ol>
        )}
      </div>

      <div className="fb-poll-meta">
        <p className="fb-poll-text">
          {trouble
            ? `Having trouble reaching support; trying again in ${Math.ceil(trouble.retryInMs / 1000)} s.`
            : stopped === "idle"
              ? "Paused automatic updates after a long quiet spell."
              : stopped === "final"
                ? "This ticket is closed."
                : checkedAt
                  ? `Updates automatically · last checked ${new Date(checkedAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })}`
                  : "Checking…"}
        </p>
        <button type="button" className="fb-button fb-button--ghost fb-button--small" onClick={() => poller.current?.checkNow()}>
          Check now
        </button>
      </div>
    </section>
  );
}
