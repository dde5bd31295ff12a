// Words for ticket statuses and message authors. Wait messages say what is actually
// happening and never promise a time the system does not know.
import type { TicketView } from "./api";

export type Tone = "neutral" | "progress" | "success" | "human";

export interface StatusInfo {
  label: string;
  tone: Tone;
  /** 0 received, 1 being worked on, 2 answered / with a person / resolved. */
  step: 0 | 1 | 2;
  waiting: boolean;
}

const STATUS: Record<string, StatusInfo> = {
  received: { label: "Received", tone: "neutral", step: 0, waiting: true },
  open: { label: "Open", tone: "progress", step: 1, waiting: true },
  processing: { label: "Processing", tone: "progress", step: 1, waiting: true },
  answered: { label: "Answered", tone: "success", step: 2, waiting: false },
  escalated: { label: "Escalated to a human", tone: "human", step: 2, waiting: false },
  resolved: { label: "Resolved", tone: "success", step: 2, waiting: false },
};

export function statusInfo(status: string): StatusInfo {
  return (
    STATUS[status] ?? {
      label: status ? status[0].toUpperCase() + status.slice(1).replace(/_/g, " ") : "Unknown",
      tone: "neutral",
      step: 1,
      waiting: true,
    }
  );
}

export function stepLabels(status: string): [string, string, string] {
  if (status === "escalated") return ["Received", "Reviewed", "With our team"];
  if (status === "resolved") return ["Received", "In progress", "Resolved"];
  return ["Received", "In progress", "Answered"];
}

/** Past this, a wait is "longer than usual" and the page says so. */
export const SLOW_AFTER_MS = 5 * 60_000;

export function waitMessage(ticket: Pick<TicketView, "status" | "messages">, waitedMs: number): string {
  const slow = waitedMs >= SLOW_AFTER_MS;
  switch (ticket.status) {
    case "received":
      return slow
        ? "We have your request, but it is taking longer than usual to reach our assistant. It is not lost: this page keeps checking."
        : "We have your request and it is in the queue. This page updates by itself.";
    case "open":
    case "processing":
      return slow
        ? "This is taking longer than usual. Your request is safe; keep this page open or come back later with the link."
        : "Our AI assistant is working on a reply. This page updates by itself as soon as it is ready.";
    case "answered":
      return "We have replied below. If it doesn't solve your problem, send a new request and mention your ticket ID.";
    case "escalated":
      return "A member of our support team is taking over your request. Their reply will appear here.";
    case "resolved":
      return "This ticket is resolved. Send a new request if you need more help.";
    default:
      return "This page updates by itself.";
  }
}

export function authorLabel(role: string): string {
  switch (role) {
    case "customer":
      return "You";
    case "agent":
      return "Flowboard assistant (AI)";
    case "human":
      return "Flowboard support team";
    case "system":
      return "Update";
    default:
      return role;
  }
}

export function formatTime(iso: string, locale?: string): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}
