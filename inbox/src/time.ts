// How long until the first human reply is due, said the way a person scans a queue.

export type Urgency = "replied" | "breached" | "soon" | "ok" | "none";

export interface TimeLeft {
  text: string;
  urgency: Urgency;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "3 min", "2 h 05 min", "1 d 4 h" (to the nearest minute). */
export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / MINUTE));
  if (minutes < 60) return `${minutes} min`;
  if (ms < DAY) {
    const h = Math.floor(minutes / 60);
    const m = minutes % 60;
    return m ? `${h} h ${String(m).padStart(2, "0")} min` : `${h} h`;
  }
  const d = Math.floor(ms / DAY);
  const h = Math.floor((ms % DAY) / HOUR);
  return h ? `${d} d ${h} h` : `${d} d`;
}

/** Under this much left, an escalation is shown as due soon. */
export const SOON_MS = 30 * MINUTE;

export function timeLeft(
  e: { reply_due_at: string | null; first_reply_at: string | null; breached: boolean; state?: string },
  now: number,
): TimeLeft {
  if (e.first_reply_at) {
    return e.breached
      ? { text: "replied late", urgency: "breached" }
      : { text: "replied in time", urgency: "replied" };
  }
  if (!e.reply_due_at) return { text: "no reply due time", urgency: "none" };
  const due = Date.parse(e.reply_due_at);
  if (Number.isNaN(due)) return { text: "no reply due time", urgency: "none" };
  const left = due - now;
  if (left <= 0 || e.breached) {
    return { text: `breached · ${formatDuration(Math.max(0, now - due))} overdue`, urgency: "breached" };
  }
  return { text: `${formatDuration(left)} left`, urgency: left <= SOON_MS ? "soon" : "ok" };
}

export function formatTime(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC" }) + " UTC";
}

export const LABELS: Record<string, string> = {
  pricing: "Pricing",
  refund: "Refund",
  legal: "Legal",
  anger: "Upset customer",
  human_request: "Asked for a person",
  search_failed: "No answer found",
  processing_error: "Processing error",
  other: "Other",
  email: "Email",
  whatsapp: "WhatsApp",
  web_form: "Web form",
  open: "Open",
  claimed: "Claimed",
  resolved: "Resolved",
  agent: "AI agent",
  human: "Support team",
  system: "System",
};

export const label = (value: string) => LABELS[value] ?? value.replace(/_/g, " ");
