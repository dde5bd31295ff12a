import { useEffect, useRef, useState } from "react";
import { canAct, type EscalationDetail, type InboxApi, type Me } from "../api";
import { formatTime, label } from "../time";
import { ReplyForm } from "./ReplyForm";
import { TimeLeftBadge } from "./TimeLeftBadge";

interface Props {
  api: InboxApi;
  me: Me;
  escalationId: string;
  now: number;
  /** Something changed: the queue should reload. */
  onChanged: () => void;
}

export function EscalationView({ api, me, escalationId, now, onChanged }: Props) {
  const [detail, setDetail] = useState<EscalationDetail | null>(null);
  const [error, setError] = useState("");
  const [actionError, setActionError] = useState("");
  const [busy, setBusy] = useState("");
  const [note, setNote] = useState("");
  const heading = useRef<HTMLHeadingElement>(null);
  // Opening an escalation moves focus to its heading once it is on screen (after the commit
  // that renders it: a timer or animation frame may run before React has rendered it).
  const focusPending = useRef(false);

  useEffect(() => {
    if (detail && focusPending.current) {
      focusPending.current = false;
      heading.current?.focus();
    }
  }, [detail]);

  async function load(focus: boolean) {
    try {
      const d = await api.get(escalationId);
      if (focus) focusPending.current = true;
      setDetail(d);
      setError("");
    } catch (err) {
      setError((err as Error).message);
    }
  }

  useEffect(() => {
    setDetail(null);
    setActionError("");
    setNote("");
    void load(true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [escalationId]);

  async function act(name: string, run: () => Promise<unknown>) {
    setBusy(name);
    setActionError("");
    try {
      await run();
      await load(false);
      onChanged();
    } catch (err) {
      setActionError((err as Error).message);
    } finally {
      setBusy("");
    }
  }

  if (error) {
    return (
      <section className="detail" aria-labelledby="detail-error">
        <h2 id="detail-error">Escalation</h2>
        <p className="error" role="alert">
          {error}
        </p>
        <a href="#/">Back to the queue</a>
      </section>
    );
  }
  if (!detail) {
    return (
      <section className="detail" aria-busy="true">
        <p role="status">Loading the escalation…</p>
      </section>
    );
  }

  const e = detail.escalation;
  const mayAct = canAct(me);
  const mine = e.owner?.subject === me.subject;
  const ownedByOther = e.state === "claimed" && !mine;
  const replyBlocked = !mayAct
    ? "Your role (viewer) may read but not reply."
    : e.state === "resolved"
      ? "Resolved: reopen it to reply."
      : ownedByOther
        ? `${e.owner?.display_name} owns this escalation.`
        : undefined;

  return (
    <section className="detail" aria-labelledby="detail-title">
      <a className="back" href="#/">
        ← Back to the queue
      </a>
      <h2 id="detail-title" ref={heading} tabIndex={-1}>
        {e.customer_name || "Unnamed customer"}: {e.subject || label(e.reason)}
      </h2>
      <dl className="facts">
        <div>
          <dt>State</dt>
          <dd>
            {label(e.state)}
            {e.owner ? ` by ${e.owner.display_name}${mine ? " (you)" : ""}` : ""}
          </dd>
        </div>
        <div>
          <dt>First reply</dt>
          <dd>
            <TimeLeftBadge escalation={e} now={now} />
          </dd>
        </div>
        <div>
          <dt>Team · reason</dt>
          <dd>
            {e.team} · {label(e.reason)}
          </dd>
        </div>
        <div>
          <dt>Channel</dt>
          <dd>{label(e.channel)}</dd>
        </div>
        <div>
          <dt>Raised</dt>
          <dd>{formatTime(e.created_at)}</dd>
        </div>
        {(detail.emails.length > 0 || detail.phones.length > 0) && (
          <div>
            <dt>Verified addresses</dt>
            <dd>{[...detail.emails, ...detail.phones].join(", ")}</dd>
          </div>
        )}
      </dl>

      <section className="note" aria-labelledby="note-title">
        <h3 id="note-title">Agent's note</h3>
        <p>{e.note || "The agent left no note."}</p>
        {e.resolution_note && (
          <p>
            <strong>Resolution:</strong> {e.resolution_note}
          </p>
        )}
      </section>

      <div className="actions" role="group" aria-label="Actions">
        {e.state === "open" && (
          <button type="button" disabled={!mayAct || busy !== ""} onClick={() => act("claim", () => api.claim(e.escalation_id))}>
            {busy === "claim" ? "Claiming…" : "Claim"}
          </button>
        )}
        {e.state !== "resolved" && (
          <>
            <label htmlFor="resolution-note" className="inline">
              Resolution note
            </label>
            <input
              id="resolution-note"
              value={note}
              maxLength={2000}
              onChange={(ev) => setNote(ev.target.value)}
              disabled={!mayAct || ownedByOther}
            />
            <button
              type="button"
              disabled={!mayAct || ownedByOther || busy !== ""}
              onClick={() => act("resolve", () => api.resolve(e.escalation_id, note))}
            >
              {busy === "resolve" ? "Resolving…" : "Resolve"}
            </button>
          </>
        )}
        {e.state === "resolved" && (
          <button type="button" disabled={!mayAct || busy !== ""} onClick={() => act("reopen", () => api.reopen(e.escalation_id, ""))}>
            {busy === "reopen" ? "Reopening…" : "Reopen"}
          </button>
        )}
        {!mayAct && <p className="hint">Your role (viewer) may read the queue but not act on it.</p>}
        {actionError && (
          <p className="error" role="alert">
            {actionError}
          </p>
        )}
      </div>

      <section className="history" aria-labelledby="history-title">
        <h3 id="history-title">History on every channel</h3>
        <ol>
          {detail.messages.map((m) => (
            <li key={m.message_id} className={`msg msg-${m.role}`}>
              <p className="msg-meta">
                <strong>{m.role === "customer" ? e.customer_name || "Customer" : label(m.role)}</strong> · {label(m.channel)} ·{" "}
                <time dateTime={m.time ?? undefined}>{formatTime(m.time)}</time>
                {m.ticket_id === e.ticket_id ? "" : " · earlier ticket"}
                {m.delivery_status && m.direction === "outbound" ? ` · ${m.delivery_status}` : ""}
              </p>
              {m.subject && <p className="msg-subject">{m.subject}</p>}
              <p className="msg-body">{m.content || "(no text)"}</p>
            </li>
          ))}
        </ol>
      </section>

      <ReplyForm
        channel={e.channel}
        disabledReason={replyBlocked}
        send={async (content, key) => {
          const r = await api.reply(e.escalation_id, content, key);
          await load(false);
          onChanged();
          return r;
        }}
      />
    </section>
  );
}
