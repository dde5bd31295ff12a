import { useEffect, useRef } from "react";
import type { SubmissionAccepted } from "../api";

export interface SuccessPanelProps {
  ticket: SubmissionAccepted;
  statusHref: string;
  /** Open the status page in a new tab (embedded: keep the host page). */
  newTab?: boolean;
  headingLevel?: 1 | 2;
  onAnother: () => void;
}

export function SuccessPanel({ ticket, statusHref, newTab, headingLevel = 2, onAnother }: SuccessPanelProps) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const Heading = headingLevel === 1 ? "h1" : "h2";
  return (
    <section className="fb-success" aria-labelledby="fb-success-title" data-testid="submission-accepted">
      <div className="fb-success-icon" aria-hidden="true">
        <svg viewBox="0 0 24 24" focusable="false">
          <path d="M5 12.5l4.2 4.2L19 7" />
        </svg>
      </div>
      <Heading className="fb-title" id="fb-success-title" tabIndex={-1} ref={heading}>
        Request received
      </Heading>
      <p className="fb-lead">{ticket.message}</p>
      <dl className="fb-facts">
        <div>
          <dt>Ticket ID</dt>
          <dd>
            <code data-testid="ticket-id">{ticket.ticket_id}</code>
          </dd>
        </div>
        <div>
          <dt>Expected reply</dt>
          <dd>{ticket.expected_response_time}</dd>
        </div>
      </dl>
      <div className="fb-actions fb-actions--row">
        <a
          className="fb-button fb-button--primary"
          href={statusHref}
          {...(newTab ? { target: "_blank", rel: "noopener" } : {})}
        >
          View ticket status
          {newTab ? <span className="fb-sr-only"> (opens in a new tab)</span> : null}
        </a>
        <button type="button" className="fb-button fb-button--ghost" onClick={onAnother}>
          Send another request
        </button>
      </div>
      <p className="fb-hint">Keep the status link: it is the way back to this conversation.</p>
    </section>
  );
}
