// The two edge endpoints the form talks to, with every answer turned into a typed outcome
// (the UI never sees a raw Response or an exception).
import { isFieldName, type FieldName } from "./limits";
import { INVALID_CATEGORY, PHONE_EXAMPLE, tooLong, tooShort, type FieldErrors } from "./validation";

export interface SubmissionAccepted {
  ticket_id: string;
  message: string;
  expected_response_time: string;
}

export type SubmitOutcome =
  | { kind: "accepted"; ticket: SubmissionAccepted }
  | { kind: "invalid"; fieldErrors: FieldErrors; formError?: string }
  | { kind: "rate_limited"; retryAfterS: number }
  | { kind: "too_large" }
  | { kind: "unavailable"; retryAfterS: number }
  | { kind: "network" }
  | { kind: "failed"; status: number };

export type TicketStatus = "received" | "open" | "processing" | "answered" | "escalated" | "resolved";

export interface TicketMessage {
  role: "customer" | "agent" | "human" | "system" | string;
  channel: string;
  content: string;
  time: string;
}

export interface TicketView {
  ticket_id: string;
  status: TicketStatus | string;
  subject: string;
  messages: TicketMessage[];
  created_at: string | null;
  updated_at: string | null;
}

export type TicketOutcome =
  | { kind: "ok"; ticket: TicketView }
  | { kind: "retry"; retryAfterMs?: number; reason: string }
  /** The edge does not know the ticket (yet): for an id it handed out, that means "received". */
  | { kind: "pending"; reason: string }
  | { kind: "fatal"; reason: string };

export interface ValidationIssue {
  loc?: (string | number)[];
  msg?: string;
  type?: string;
  ctx?: Record<string, unknown>;
}

const REQUEST_TIMEOUT_MS = 15_000;
export const IDENTITY_REFUSED =
  "We could not confirm this email belongs to the account you are signed in with. Use that account's email, or reload the page and try again.";
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function apiUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}

/** A fresh key per submission attempt; crypto.randomUUID needs a secure context, this doesn't. */
export function newIdempotencyKey(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function" && globalThis.isSecureContext !== false) {
    return c.randomUUID();
  }
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function retryAfterSeconds(response: Response, fallback: number): number {
  const header = response.headers.get("Retry-After");
  if (!header) return fallback;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(header);
  return Number.isNaN(date) ? fallback : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function capitalise(text: string): string {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

// Server wordings too long for the two lines an error gets at 320 px, said shorter. Anything
// not listed is shown as the server wrote it (clamped on screen, read in full by screen readers).
const SHORTER_WORDING: Record<string, string> = {
  "not a phone number; use international format like +351912345678": `Not a phone number. Use the format ${PHONE_EXAMPLE}`,
};

/** One pydantic error in words that fit under a field. */
export function friendlyIssue(issue: ValidationIssue): string {
  const ctx = issue.ctx ?? {};
  switch (issue.type) {
    case "missing":
      return "This field is required";
    case "string_too_short":
      return tooShort(Number(ctx.min_length));
    case "string_too_long":
      return tooLong(Number(ctx.max_length));
    case "literal_error":
    case "enum":
      return INVALID_CATEGORY;
    case "string_type":
      return "Enter text";
  }
  const msg = (issue.msg ?? "").replace(/^Value error, /, "").replace(/^value is not a valid email address: /, "");
  const shorter = SHORTER_WORDING[msg.toLowerCase()];
  if (shorter) return shorter;
  return capitalise(msg.replace(/\.$/, "")) || "This value was not accepted";
}

/** FastAPI's 422 `detail` → an error per form field (first one wins) and/or one for the form. */
export function mapValidationErrors(detail: unknown): { fieldErrors: FieldErrors; formError?: string } {
  const fieldErrors: FieldErrors = {};
  const other: string[] = [];
  if (!Array.isArray(detail)) {
    return { fieldErrors, formError: typeof detail === "string" ? detail : "Some details were not accepted" };
  }
  for (const issue of detail as ValidationIssue[]) {
    const loc = Array.isArray(issue?.loc) ? issue.loc : [];
    const field = loc[0] === "body" ? loc[1] : undefined;
    if (isFieldName(field)) {
      fieldErrors[field as FieldName] ??= friendlyIssue(issue);
    } else {
      other.push(friendlyIssue(issue));
    }
  }
  const formError = other.length
    ? `The request was not accepted: ${other.join("; ")}`
    : Object.keys(fieldErrors).length
      ? undefined
      : "Some details were not accepted";
  return { fieldErrors, formError };
}

async function fetchWithTimeout(url: string, init: RequestInit, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(url, { ...init, signal: controller.signal, credentials: "omit" });
  } finally {
    clearTimeout(timer);
  }
}

async function readJson(response: Response): Promise<unknown> {
  try {
    return await response.json();
  } catch {
    return undefined;
  }
}

export async function submitRequest(
  base: string,
  payload: Record<string, string>,
  idempotencyKey: string,
): Promise<SubmitOutcome> {
  let response: Response;
  try {
    response = await fetchWithTimeout(apiUrl(base, "/support/submit"), {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
      body: JSON.stringify(payload),
    });
  } catch {
    return { kind: "network" };
  }
  const body = (await readJson(response)) as Record<string, unknown> | undefined;
  switch (response.status) {
    case 200:
    case 201:
    case 202:
      if (body && typeof body.ticket_id === "string") {
        return { kind: "accepted", ticket: body as unknown as SubmissionAccepted };
      }
      return { kind: "failed", status: response.status };
    case 400:
    case 403:
    case 422:
      if (typeof body?.detail === "string" && body.detail.startsWith("identity_token:")) {
        // The host page's token does not prove this email (the customer changed it, or the page is stale).
        return { kind: "invalid", fieldErrors: {}, formError: IDENTITY_REFUSED };
      }
      return { kind: "invalid", ...mapValidationErrors(body?.detail) };
    case 413:
      return { kind: "too_large" };
    case 429:
      return { kind: "rate_limited", retryAfterS: retryAfterSeconds(response, 60) };
    case 502:
    case 503:
    case 504:
      return { kind: "unavailable", retryAfterS: retryAfterSeconds(response, 5) };
    default:
      return { kind: "failed", status: response.status };
  }
}

export async function fetchTicket(base: string, ticketId: string): Promise<TicketOutcome> {
  let response: Response;
  try {
    response = await fetchWithTimeout(apiUrl(base, `/support/ticket/${encodeURIComponent(ticketId)}`), {
      method: "GET",
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
  } catch {
    return { kind: "retry", reason: "network" };
  }
  if (response.ok) {
    const body = (await readJson(response)) as Partial<TicketView> | undefined;
    if (!body || typeof body.status !== "string") return { kind: "retry", reason: "bad response" };
    return {
      kind: "ok",
      ticket: {
        ticket_id: body.ticket_id ?? ticketId,
        status: body.status,
        subject: body.subject ?? "",
        messages: Array.isArray(body.messages) ? body.messages : [],
        created_at: body.created_at ?? null,
        updated_at: body.updated_at ?? null,
      },
    };
  }
  if (response.status === 404) {
    // The id came from our own submit answer, so the ticket exists; a 404 (an older edge, a
    // proxy, a replica that has not caught up) only means it is not stored yet.
    return { kind: "pending", reason: "HTTP 404" };
  }
  if (response.status === 422 || response.status === 400) {
    return { kind: "fatal", reason: `HTTP ${response.status}` };
  }
  const retryAfter = response.headers.get("Retry-After");
  return {
    kind: "retry",
    reason: `HTTP ${response.status}`,
    retryAfterMs: retryAfter ? retryAfterSeconds(response, 5) * 1000 : undefined,
  };
}
