import { afterEach, describe, expect, it, vi } from "vitest";
import { fetchTicket, mapValidationErrors, newIdempotencyKey, submitRequest, UUID_RE } from "../../src/api";

function respond(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

afterEach(() => vi.unstubAllGlobals());

describe("422 → errors next to the right field", () => {
  it("maps FastAPI/pydantic detail entries by loc ['body', field]", () => {
    // Shapes copied from the edge's real 422 answers.
    const { fieldErrors, formError } = mapValidationErrors([
      {
        type: "value_error",
        loc: ["body", "email"],
        msg: "value is not a valid email address: The part after the @-sign is not valid. It should have a period.",
        input: "ada@example",
        ctx: { reason: "The part after the @-sign is not valid. It should have a period." },
      },
      { type: "string_too_short", loc: ["body", "message"], msg: "String should have at least 10 characters", ctx: { min_length: 10 } },
      { type: "string_too_long", loc: ["body", "subject"], msg: "String should have at most 200 characters", ctx: { max_length: 200 } },
      { type: "literal_error", loc: ["body", "category"], msg: "Input should be 'general', 'technical', 'billing', 'feedback' or 'bug_report'" },
      { type: "value_error", loc: ["body", "phone"], msg: "Value error, not a phone number; use international format like +351912345678" },
      { type: "missing", loc: ["body", "name"], msg: "Field required" },
    ]);
    expect(fieldErrors).toEqual({
      email: "The part after the @-sign is not valid. It should have a period",
      message: "Use at least 10 characters",
      subject: "Use at most 200 characters",
      category: "Choose one of the listed categories",
      phone: "Not a phone number. Use the format +351\u00a0912\u00a0345\u00a0678",
      name: "This field is required",
    });
    expect(formError).toBeUndefined();
  });

  it("keeps the first error per field and sends the rest to the form", () => {
    const { fieldErrors, formError } = mapValidationErrors([
      { type: "string_too_short", loc: ["body", "name"], msg: "x", ctx: { min_length: 2 } },
      { type: "string_too_long", loc: ["body", "name"], msg: "y", ctx: { max_length: 100 } },
      { type: "extra_forbidden", loc: ["body", "nickname"], msg: "Extra inputs are not permitted" },
      { type: "json_invalid", loc: ["body"], msg: "JSON decode error" },
    ]);
    expect(fieldErrors).toEqual({ name: "Use at least 2 characters" });
    expect(formError).toBe("The request was not accepted: Extra inputs are not permitted; JSON decode error");
  });

  it("copes with a string detail", () => {
    expect(mapValidationErrors("nope")).toEqual({ fieldErrors: {}, formError: "nope" });
  });
});

describe("submitRequest", () => {
  const payload = { name: "Ada", email: "ada@example.com", subject: "Hello there", category: "general", message: "0123456789" };

  it("posts JSON with the Idempotency-Key and returns the ticket on 202", async () => {
    const fetchMock = vi.fn().mockResolvedValue(
      respond(202, { ticket_id: "6f1c0d8e-1111-4222-8333-444455556666", message: "Thank you, Ada.", expected_response_time: "within 5 minutes" }),
    );
    vi.stubGlobal("fetch", fetchMock);
    const outcome = await submitRequest("http://edge.test/", payload, "key-1");
    expect(outcome).toEqual({
      kind: "accepted",
      ticket: { ticket_id: "6f1c0d8e-1111-4222-8333-444455556666", message: "Thank you, Ada.", expected_response_time: "within 5 minutes" },
    });
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("http://edge.test/support/submit");
    expect(init.method).toBe("POST");
    expect(init.headers["Idempotency-Key"]).toBe("key-1");
    expect(JSON.parse(init.body)).toEqual(payload);
  });

  it.each([
    [respond(422, { detail: [{ type: "missing", loc: ["body", "email"], msg: "Field required" }] }), { kind: "invalid", fieldErrors: { email: "This field is required" }, formError: undefined }],
    [respond(413, { detail: "request body over 65536 bytes" }), { kind: "too_large" }],
    [respond(429, { detail: "too many" }, { "Retry-After": "60" }), { kind: "rate_limited", retryAfterS: 60 }],
    [respond(503, { detail: "retry" }, { "Retry-After": "5" }), { kind: "unavailable", retryAfterS: 5 }],
    [respond(500, { detail: "boom" }), { kind: "failed", status: 500 }],
  ])("maps HTTP answers to outcomes (%#)", async (response, expected) => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(response));
    expect(await submitRequest("http://edge.test", payload, "k")).toEqual(expected);
  });

  it("reports a network failure (including a CORS refusal) as network", async () => {
    vi.stubGlobal("fetch", vi.fn().mockRejectedValue(new TypeError("Failed to fetch")));
    expect(await submitRequest("http://edge.test", payload, "k")).toEqual({ kind: "network" });
  });
});

describe("fetchTicket", () => {
  it("treats a fresh 'received' ticket as a normal answer", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(respond(200, { ticket_id: "t", status: "received" })));
    const outcome = await fetchTicket("http://edge.test", "t");
    expect(outcome).toEqual({
      kind: "ok",
      ticket: { ticket_id: "t", status: "received", subject: "", messages: [], created_at: null, updated_at: null },
    });
  });

  it("reads a real 404 as 'not stored yet', never as a missing ticket", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(respond(404, { detail: "Not Found" })));
    expect(await fetchTicket("http://edge.test", "t")).toEqual({ kind: "pending", reason: "HTTP 404" });
  });

  it("retries on 503 with Retry-After and gives up on 422", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(respond(503, { detail: "x" }, { "Retry-After": "7" })));
    expect(await fetchTicket("http://edge.test", "t")).toEqual({ kind: "retry", reason: "HTTP 503", retryAfterMs: 7000 });
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(respond(422, { detail: [] })));
    expect(await fetchTicket("http://edge.test", "t")).toEqual({ kind: "fatal", reason: "HTTP 422" });
  });
});

describe("idempotency keys", () => {
  it("are UUIDs, unique, with or without crypto.randomUUID", () => {
    const a = newIdempotencyKey();
    expect(a).toMatch(UUID_RE);
    vi.stubGlobal("isSecureContext", false);
    const b = newIdempotencyKey();
    expect(b).toMatch(UUID_RE);
    expect(b).not.toBe(a);
  });
});
