import { useCallback, useEffect, useState } from "react";
import type { SubmissionAccepted } from "../api";
import { SupportForm, type SubmitFn } from "./SupportForm";
import { SuccessPanel } from "./SuccessPanel";
import { TicketStatus } from "./TicketStatus";

export type Mode = "page" | "embed";

export interface AppProps {
  api: string;
  mode: Mode;
  /** Where the standalone ticket status view for a ticket lives. */
  statusPageUrl: (ticketId: string) => string;
  submit?: SubmitFn;
  /** The host page's identity token, passed on to every submission. */
  identityToken?: string;
}

type View = { kind: "form" } | { kind: "accepted"; ticket: SubmissionAccepted } | { kind: "ticket"; id: string };

const TICKET_ROUTE = /^#\/ticket\/([^/?#]+)/;

function viewFromHash(hash: string): View {
  const match = TICKET_ROUTE.exec(hash);
  return match ? { kind: "ticket", id: decodeURIComponent(match[1]) } : { kind: "form" };
}

function Logo() {
  return (
    <svg className="fb-logo" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="8" />
      <path d="M9 10.5h14M9 16h10M9 21.5h6" />
    </svg>
  );
}

export function App({ api, mode, statusPageUrl, submit, identityToken }: AppProps) {
  const page = mode === "page";
  const [view, setView] = useState<View>(() => (page ? viewFromHash(window.location.hash) : { kind: "form" }));

  useEffect(() => {
    if (!page) return;
    const onHash = () => setView((current) => {
      const next = viewFromHash(window.location.hash);
      // Back to "#/" from a success panel keeps nothing stale; same ticket → same view object.
      if (next.kind === "ticket" && current.kind === "ticket" && current.id === next.id) return current;
      if (next.kind === "form" && current.kind === "accepted") return current;
      return next;
    });
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, [page]);

  const onAccepted = useCallback((ticket: SubmissionAccepted) => setView({ kind: "accepted", ticket }), []);
  const another = useCallback(() => {
    if (page && window.location.hash) window.location.hash = "#/";
    setView({ kind: "form" });
  }, [page]);

  const headingLevel = page ? 1 : 2;
  let content;
  switch (view.kind) {
    case "form":
      content = (
        <SupportForm api={api} onAccepted={onAccepted} headingLevel={headingLevel} submit={submit} identityToken={identityToken} />
      );
      break;
    case "accepted":
      content = (
        <>
          <SuccessPanel
            ticket={view.ticket}
            statusHref={page ? `#/ticket/${encodeURIComponent(view.ticket.ticket_id)}` : statusPageUrl(view.ticket.ticket_id)}
            newTab={!page}
            headingLevel={headingLevel}
            onAnother={another}
          />
          {page ? null : (
            <div className="fb-inline-status">
              <TicketStatus api={api} ticketId={view.ticket.ticket_id} headingLevel={3} />
            </div>
          )}
        </>
      );
      break;
    case "ticket":
      content = (
        <>
          <TicketStatus api={api} ticketId={view.id} headingLevel={1} autoFocus />
          <p className="fb-back">
            <a className="fb-link" href="#/" onClick={another}>
              ← Send a new request
            </a>
          </p>
        </>
      );
      break;
  }

  if (!page) {
    return (
      <div className="fb-root fb-root--embed">
        <div className="fb-card">{content}</div>
        <p className="fb-powered">Flowboard Support</p>
      </div>
    );
  }
  return (
    <div className="fb-root fb-root--page">
      <header className="fb-topbar">
        <a className="fb-brand" href="#/" onClick={another}>
          <Logo />
          <span className="fb-brand-name">Flowboard</span>
          <span className="fb-brand-sub">Support</span>
        </a>
      </header>
      <main className="fb-main">
        <div className="fb-card">{content}</div>
      </main>
      <footer className="fb-footer">
        <p>Replies come from Flowboard’s AI assistant; pricing, refunds and anything sensitive go to a person.</p>
      </footer>
    </div>
  );
}
