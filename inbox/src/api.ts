import type { OidcConfig } from "./oidc";

// The edge's inbox API (/inbox/api/…, same origin). Every call carries the operator's credential
// as `Authorization: Bearer`; the edge checks it and calls HandoffService as that person.

export type State = "open" | "claimed" | "resolved";
export const REASONS = [
  "pricing", "refund", "legal", "anger", "human_request", "search_failed", "processing_error", "other",
] as const;
export type Reason = (typeof REASONS)[number];

export interface Operator {
  subject: string;
  display_name: string;
}

export interface Escalation {
  escalation_id: string;
  ticket_id: string;
  conversation_id: string;
  customer_id: string;
  customer_name: string;
  channel: string;
  reason: string;
  team: string;
  note: string;
  state: State;
  owner: Operator | null;
  subject: string;
  created_at: string | null;
  reply_due_at: string | null;
  first_reply_at: string | null;
  breached: boolean;
  resolved_at: string | null;
  resolution_note: string;
}

export interface HistoryMessage {
  message_id: string;
  ticket_id: string;
  channel: string;
  direction: string;
  role: string;
  content: string;
  subject: string;
  time: string | null;
  delivery_status: string;
}

export interface EscalationDetail {
  escalation: Escalation;
  emails: string[];
  phones: string[];
  messages: HistoryMessage[];
  context: Record<string, unknown>;
}

export interface Me {
  subject: string;
  display_name: string;
  role: "viewer" | "agent" | "admin" | string;
}

export interface QueueFilters {
  states: State[];
  team: string;
  reason: Reason | "";
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A readable message for a failed call, from the edge's `detail` (a string, or FastAPI's list). */
function detailOf(status: number, body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => `${(d.loc ?? []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  if (status === 401) return "sign in again: the credential was refused";
  if (status === 403) return "your role may not do this";
  if (status >= 500) return "a service is unavailable, try again shortly";
  return `the edge answered ${status}`;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface InboxApi {
  me(): Promise<Me>;
  list(filters: QueueFilters, pageToken?: string): Promise<{ escalations: Escalation[]; next_page_token: string }>;
  get(id: string): Promise<EscalationDetail>;
  claim(id: string): Promise<{ escalation: Escalation; already_claimed: boolean }>;
  reply(id: string, content: string, idempotencyKey: string): Promise<{ message_id: string; duplicate: boolean; escalation: Escalation }>;
  resolve(id: string, note: string): Promise<{ escalation: Escalation; already_resolved: boolean }>;
  reopen(id: string, note: string): Promise<{ escalation: Escalation }>;
}

export function createApi(credential: string, base = "/inbox/api", fetchImpl: FetchLike = (i, o) => fetch(i, o)): InboxApi {
  async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetchImpl(`${base}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${credential}`,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "the edge cannot be reached; check your connection and try again");
    }
    const parsed = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, detailOf(response.status, parsed));
    return parsed as T;
  }
  const at = (id: string) => `/escalations/${encodeURIComponent(id)}`;
  return {
    me: () => call("GET", "/me"),
    list(filters, pageToken = "") {
      const q = new URLSearchParams();
      for (const s of filters.states) q.append("state", s);
      if (filters.team) q.set("team", filters.team);
      if (filters.reason) q.set("reason", filters.reason);
      if (pageToken) q.set("page_token", pageToken);
      q.set("page_size", "100");
      return call("GET", `/escalations?${q}`);
    },
    get: (id) => call("GET", at(id)),
    claim: (id) => call("POST", `${at(id)}/claim`),
    reply: (id, content, idempotencyKey) => call("POST", `${at(id)}/reply`, { content, idempotency_key: idempotencyKey }),
    resolve: (id, note) => call("POST", `${at(id)}/resolve`, { note }),
    reopen: (id, note) => call("POST", `${at(id)}/reopen`, { note }),
  };
}

/** The edge's sign-in settings (open: needed before anyone has a credential). */
export async function fetchConfig(base = "/inbox/api", fetchImpl: FetchLike = (i, o) => fetch(i, o)): Promise<{ oidc: OidcConfig | null; teams: string[] }> {
  try {
    const response = await fetchImpl(`${base}/config`, { headers: { Accept: "application/json" } });
    return response.ok ? await response.json() : { oidc: null, teams: [] };
  } catch {
    return { oidc: null, teams: [] };
  }
}

export const canAct = (me: Me | null) => me?.role === "agent" || me?.role === "admin";
