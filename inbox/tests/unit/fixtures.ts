import type { Escalation } from "../../src/api";

export const NOW = Date.parse("2026-12-02T12:00:00Z");

export function escalation(overrides: Partial<Escalation> = {}): Escalation {
  return {
    escalation_id: "11111111-1111-4111-8111-111111111111",
    ticket_id: "22222222-2222-4222-8222-222222222222",
    conversation_id: "33333333-3333-4333-8333-333333333333",
    customer_id: "44444444-4444-4444-8444-444444444444",
    customer_name: "Ada Lovelace",
    channel: "web_form",
    reason: "pricing",
    team: "sales",
    note: "Asks for a discount on 40 seats.",
    state: "open",
    owner: null,
    subject: "Discount for a big team?",
    created_at: "2026-12-02T11:00:00Z",
    reply_due_at: "2026-12-02T13:00:00Z",
    first_reply_at: null,
    breached: false,
    resolved_at: null,
    resolution_note: "",
    ...overrides,
  };
}
