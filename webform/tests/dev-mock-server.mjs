#!/usr/bin/env node
// FOR LOCAL DEVELOPMENT ONLY: a stand-in for the edge's two web-form endpoints, so the form
// can be worked on without PostgreSQL, Kafka and the services. The browser tests target the
// real edge (EDGE_URL); pointing EDGE_URL at this mock is only a quick smoke check.
//
//   node tests/dev-mock-server.mjs            # http://127.0.0.1:8765/webform/index.html
//   PORT=9000 ANSWER_AFTER_MS=8000 node tests/dev-mock-server.mjs
//
// Serves dist/ at /webform/ (run `npm run build` first), answers POST /support/submit and
// GET /support/ticket/{id} in the edge's shapes (202, 422 detail list, 413, 429, 503), and
// plays a ticket's life: received (not stored) → processing → answered. Steering by e-mail:
// "...+503@..." answers 503 once per key, "...+429@..." 429, "...+human@..." escalates.
import { createHash, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const DIST = resolve(here, "..", "dist");
const LIMITS = JSON.parse(await readFile(resolve(here, "..", "src", "limits.json"), "utf8"));
const PORT = Number(process.env.PORT ?? 8765);
const HOST = process.env.HOST ?? "127.0.0.1";
const STORED_AFTER_MS = Number(process.env.STORED_AFTER_MS ?? 1500);
const ANSWER_AFTER_MS = Number(process.env.ANSWER_AFTER_MS ?? 4000);
const MAX_BODY = 64 * 1024;

const tickets = new Map(); // id -> { submission, createdAt }
const failedOnce = new Set();

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".map": "application/json", ".css": "text/css" };

function cors(req, res) {
  const origin = req.headers.origin;
  if (origin) {
    res.setHeader("Access-Control-Allow-Origin", origin);
    res.setHeader("Vary", "Origin");
  }
}

function json(req, res, status, body, headers = {}) {
  cors(req, res);
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function uuidFromKey(key) {
  const h = createHash("sha1").update(`flowboard-mock:${key}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const strip = (v) => (typeof v === "string" ? v.replace(/^[\s\u0085]+|[\s\u0085]+$/gu, "") : v);
const len = (v) => [...v].length;

function validate(body) {
  const detail = [];
  for (const [field, rule] of Object.entries(LIMITS.fields)) {
    const loc = ["body", field];
    let value = strip(body[field]);
    if (value === undefined || value === null || (value === "" && !rule.required)) {
      if (rule.required) detail.push({ loc, type: "missing", msg: "Field required", input: body });
      continue;
    }
    if (typeof value !== "string") {
      detail.push({ loc, type: "string_type", msg: "Input should be a valid string" });
      continue;
    }
    if (rule.minLength && len(value) < rule.minLength)
      detail.push({ loc, type: "string_too_short", msg: `String should have at least ${rule.minLength} characters`, ctx: { min_length: rule.minLength } });
    else if (rule.maxLength && len(value) > rule.maxLength)
      detail.push({ loc, type: "string_too_long", msg: `String should have at most ${rule.maxLength} characters`, ctx: { max_length: rule.maxLength } });
    else if (rule.enum && !rule.enum.includes(value))
      detail.push({ loc, type: "literal_error", msg: `Input should be ${rule.enum.map((e) => `'${e}'`).join(", ")}` });
    else if (rule.format === "email" && !/^[^\s@]+@[^\s@]+\.[^\s@.]+$/.test(value))
      detail.push({ loc, type: "value_error", msg: "value is not a valid email address: The part after the @-sign is not valid. It should have a period." });
    else if (rule.format === "email" && /\.(test|invalid|local|localhost)$/i.test(value))
      detail.push({ loc, type: "value_error", msg: "value is not a valid email address: The part after the @-sign is a special-use or reserved name that cannot be used with email." });
    else if (field === "phone" && !/^\+?[0-9 ()\-.]{7,}$/.test(value))
      detail.push({ loc, type: "value_error", msg: "Value error, not a phone number; use international format like +351912345678" });
    else if (field === "phone" && !value.startsWith("+") && value.replace(/\D/g, "").length !== 10)
      // the edge reads numbers without "+" as US numbers (libphonenumber)
      detail.push({ loc, type: "value_error", msg: "Value error, not a valid phone number" });
  }
  for (const key of Object.keys(body)) {
    if (!(key in LIMITS.fields)) detail.push({ loc: ["body", key], type: "extra_forbidden", msg: "Extra inputs are not permitted" });
  }
  return detail;
}

function ticketView(id) {
  const t = tickets.get(id);
  const age = t ? Date.now() - t.createdAt : 0;
  if (!t || age < STORED_AFTER_MS) return { ticket_id: id, status: "received", subject: "", messages: [], created_at: null, updated_at: null };
  const s = t.submission;
  const created = new Date(t.createdAt).toISOString();
  const messages = [{ role: "customer", channel: "web_form", content: s.message, time: created }];
  let status = "processing";
  if (age >= ANSWER_AFTER_MS) {
    const at = new Date(t.createdAt + ANSWER_AFTER_MS).toISOString();
    if (/\+human@/.test(s.email)) {
      status = "escalated";
      messages.push({ role: "system", channel: "web_form", content: "Handed to the support team: the customer asked for a person.", time: at });
      messages.push({ role: "agent", channel: "web_form", content: `Thanks ${s.name}. I've passed this to a colleague on our support team, who will reply here.`, time: at });
    } else {
      status = "answered";
      messages.push({
        role: "agent",
        channel: "web_form",
        content: `Hi ${s.name},\n\nThanks for reaching out about "${s.subject}". (Mock reply from the dev server.) You can reset your password from Settings → Security → Reset password.\n\nFlowboard Support`,
        time: at,
      });
    }
  }
  return { ticket_id: id, status, subject: s.subject, messages, created_at: created, updated_at: messages.at(-1).time };
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function serveStatic(req, res, pathname) {
  const rel = decodeURIComponent(pathname.replace(/^\/webform\/?/, "")) || "index.html";
  const file = normalize(join(DIST, rel));
  if (!file.startsWith(DIST)) return json(req, res, 404, { detail: "Not Found" });
  try {
    const data = await readFile(file);
    res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Cache-Control": "no-cache" });
    res.end(data);
  } catch {
    json(req, res, 404, { detail: "Not Found" });
  }
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
  if (req.method === "OPTIONS") {
    cors(req, res);
    res.writeHead(200, {
      "Access-Control-Allow-Methods": "GET, POST",
      "Access-Control-Allow-Headers": "Content-Type, Idempotency-Key",
      "Access-Control-Max-Age": "600",
    });
    return res.end();
  }
  if (url.pathname === "/" || url.pathname === "/webform") {
    res.writeHead(307, { Location: "/webform/index.html" });
    return res.end();
  }
  if (url.pathname.startsWith("/webform/")) return serveStatic(req, res, url.pathname);
  if (url.pathname === "/health") return json(req, res, 200, { status: "ok", mock: true });

  if (req.method === "POST" && url.pathname === "/support/submit") {
    const raw = await readBody(req);
    if (raw === null) return json(req, res, 413, { detail: `request body over ${MAX_BODY} bytes` });
    let body;
    try {
      body = JSON.parse(raw);
    } catch {
      return json(req, res, 422, { detail: [{ loc: ["body"], type: "json_invalid", msg: "JSON decode error" }] });
    }
    const detail = validate(body);
    if (detail.length) return json(req, res, 422, { detail });
    const key = req.headers["idempotency-key"];
    const email = strip(body.email);
    if (/\+429@/.test(email)) return json(req, res, 429, { detail: "too many submissions from this sender" }, { "Retry-After": "30" });
    if (/\+503@/.test(email) && !failedOnce.has(key)) {
      failedOnce.add(key);
      return json(req, res, 503, { detail: "we could not take your request right now, please retry" }, { "Retry-After": "1" });
    }
    const id = key ? uuidFromKey(String(key)) : randomUUID();
    if (!tickets.has(id)) {
      const submission = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, strip(v)]));
      tickets.set(id, { submission, createdAt: Date.now() });
    }
    await new Promise((r) => setTimeout(r, 300)); // the edge waits for Kafka's ack
    return json(req, res, 202, {
      ticket_id: id,
      message: `Thank you, ${strip(body.name)}. We received your request.`,
      expected_response_time: "within 5 minutes",
    });
  }

  const match = /^\/support\/ticket\/([^/]+)$/.exec(url.pathname);
  if (req.method === "GET" && match) {
    const id = decodeURIComponent(match[1]);
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
      return json(req, res, 422, { detail: [{ loc: ["path", "ticket_id"], type: "uuid_parsing", msg: "Input should be a valid UUID" }] });
    }
    return json(req, res, 200, ticketView(id.toLowerCase()));
  }
  json(req, res, 404, { detail: "Not Found" });
});

server.listen(PORT, HOST, () => {
  console.log(`dev mock edge (NOT the real edge) on http://${HOST}:${PORT}`);
  console.log(`form:  http://${HOST}:${PORT}/webform/index.html`);
  console.log(`demo:  http://${HOST}:${PORT}/webform/demo.html`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
