import { useId, useRef, useState, type FormEvent, type KeyboardEvent } from "react";

export const MAX_REPLY_CHARS = 10_000;

export type ReplyState = { kind: "idle" } | { kind: "sending" } | { kind: "sent"; duplicate: boolean } | { kind: "error"; message: string };

interface Props {
  channel: string;
  /** Sends one reply; the key is the same for every retry of one draft. */
  send: (content: string, idempotencyKey: string) => Promise<{ duplicate: boolean }>;
  /** Why the operator may not reply (a viewer, a resolved escalation); undefined when they may. */
  disabledReason?: string;
  newKey?: () => string;
}

const defaultKey = () =>
  typeof crypto !== "undefined" && "randomUUID" in crypto ? `inbox:${crypto.randomUUID()}` : `inbox:${Date.now()}:${Math.random().toString(36).slice(2)}`;

/** The reply box. A failed send keeps the draft and its idempotency key, so "Send" again can
 * never deliver the same reply twice; a sent reply clears the box and starts a new key. */
export function ReplyForm({ channel, send, disabledReason, newKey = defaultKey }: Props) {
  const [content, setContent] = useState("");
  const [state, setState] = useState<ReplyState>({ kind: "idle" });
  // Made once per draft (not on every render): the retry of a failed send must reuse it.
  const key = useRef<string | null>(null);
  key.current ??= newKey();
  const box = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const chars = [...content].length;
  const tooLong = chars > MAX_REPLY_CHARS;
  const blank = content.trim() === "";
  const disabled = disabledReason !== undefined;

  async function submit(e?: FormEvent) {
    e?.preventDefault();
    if (disabled || state.kind === "sending") return;
    if (blank || tooLong) {
      setState({ kind: "error", message: blank ? "Write a reply first." : `At most ${MAX_REPLY_CHARS} characters.` });
      box.current?.focus();
      return;
    }
    setState({ kind: "sending" });
    try {
      const result = await send(content, key.current!);
      key.current = newKey();
      setContent("");
      setState({ kind: "sent", duplicate: result.duplicate });
    } catch (err) {
      setState({ kind: "error", message: (err as Error).message });
    }
    box.current?.focus();
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void submit();
  }

  return (
    <form className="reply" onSubmit={submit} aria-label="Reply" noValidate>
      <label id={`${id}-label`} htmlFor={`${id}-box`}>
        Reply to the customer
      </label>
      <p id={`${id}-hint`} className="hint">
        {disabled ? disabledReason : `Sent on ${channel.replace("_", " ")} and signed with your name. Ctrl+Enter sends.`}
      </p>
      <textarea
        id={`${id}-box`}
        ref={box}
        rows={5}
        value={content}
        disabled={disabled}
        onChange={(e) => {
          setContent(e.target.value);
          if (state.kind !== "sending") setState({ kind: "idle" });
        }}
        onKeyDown={onKeyDown}
        aria-describedby={`${id}-hint ${id}-count${state.kind === "error" ? ` ${id}-status` : ""}`}
        aria-invalid={tooLong || undefined}
      />
      <div className="reply-foot">
        <span id={`${id}-count`} className={tooLong ? "count error" : "count"}>
          {chars} / {MAX_REPLY_CHARS}
        </span>
        <button type="submit" disabled={disabled || state.kind === "sending"}>
          {state.kind === "sending" ? "Sending…" : "Send reply"}
        </button>
      </div>
      <p id={`${id}-status`} className={state.kind === "error" ? "error" : "ok"} role={state.kind === "error" ? "alert" : "status"}>
        {state.kind === "sent" && (state.duplicate ? "Already sent earlier; nothing sent twice." : "Reply sent.")}
        {state.kind === "error" && state.message}
      </p>
    </form>
  );
}
