import { useId, useRef, useState, type ChangeEvent, type FormEvent } from "react";
import {
  newIdempotencyKey,
  submitRequest,
  type SubmissionAccepted,
  type SubmitOutcome,
} from "../api";
import { CATEGORIES, LIMITS, type FieldName } from "../limits";
import {
  EMPTY_VALUES,
  PHONE_EXAMPLE,
  charLength,
  stripWhitespace,
  toPayload,
  validateField,
  validateForm,
  type FieldErrors,
  type FormValues,
} from "../validation";
import { Field, describedBy } from "./Field";

export const CATEGORY_LABELS: Record<string, string> = {
  general: "General question",
  technical: "Technical problem",
  billing: "Billing and payments",
  feedback: "Feedback",
  bug_report: "Bug report",
};

export const FIELD_LABELS: Record<FieldName, string> = {
  name: "Your name",
  email: "Email",
  subject: "Subject",
  category: "Category",
  message: "How can we help?",
  phone: "Phone",
};

export type SubmitFn = (base: string, payload: Record<string, string>, key: string) => Promise<SubmitOutcome>;

export interface SupportFormProps {
  api: string;
  onAccepted: (ticket: SubmissionAccepted) => void;
  headingLevel?: 1 | 2;
  /** Injected in tests; the real request otherwise. */
  submit?: SubmitFn;
  /** Injected in tests to skip the wait between automatic retries. */
  sleep?: (ms: number) => Promise<void>;
  /** The host page's identity token for its signed-in user; sent as `identity_token`. */
  identityToken?: string;
}

const FIELD_NOUNS: Record<FieldName, string> = {
  name: "name",
  email: "email",
  subject: "subject",
  category: "category",
  message: "message",
  phone: "phone",
};

/** The order the fields appear in (summary and "focus the first error" follow it). */
const DISPLAY_ORDER: FieldName[] = ["name", "email", "category", "phone", "subject", "message"];

type FormNotice = { tone: "error" | "info"; text: string } | null;

const AUTO_RETRIES = 2;
const MESSAGE_MAX = LIMITS.fields.message.maxLength ?? Infinity;
const MESSAGE_MIN = LIMITS.fields.message.minLength ?? 0;
const COUNTER_ANNOUNCE_AT = [200, 100, 50, 20, 0];

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function noticeFor(outcome: Exclude<SubmitOutcome, { kind: "accepted" | "invalid" }>): string {
  switch (outcome.kind) {
    case "rate_limited":
      return `You have sent several requests in a short time. Please wait ${plural(outcome.retryAfterS, "second", "seconds")} and try again.`;
    case "too_large":
      return "Your request is too large to send. Please shorten the message and try again.";
    case "unavailable":
      return "We could not take your request just now. Your details are still here; please try again in a moment.";
    case "network":
      return "We could not reach Flowboard support. Check your connection and try again; your details are still here.";
    case "failed":
      return `Something went wrong on our side (error ${outcome.status}). Please try again.`;
  }
}

export function SupportForm({
  api,
  onAccepted,
  headingLevel = 2,
  submit = submitRequest,
  sleep = defaultSleep,
  identityToken,
}: SupportFormProps) {
  const uid = useId().replace(/[^a-zA-Z0-9_-]/g, "");
  const fieldId = (field: FieldName) => `fb-${uid}-${field}`;
  const [values, setValues] = useState<FormValues>(EMPTY_VALUES);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [submitting, setSubmitting] = useState(false);
  const [notice, setNotice] = useState<FormNotice>(null);
  const [counterAnnouncement, setCounterAnnouncement] = useState("");
  // A ref, not state: two clicks in the same tick both see the state from before either.
  const inFlight = useRef(false);
  const attempt = useRef<{ body: string; key: string } | null>(null);
  const controls = useRef<Partial<Record<FieldName, HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null>>>({});
  const lastCounterBand = useRef<number | null>(null);

  const focusFirstInvalid = (fieldErrors: FieldErrors) => {
    const first = DISPLAY_ORDER.find((f) => fieldErrors[f]);
    if (first) controls.current[first]?.focus();
  };

  const update = (field: FieldName) => (event: ChangeEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>) => {
    const value = event.target.value;
    setValues((prev) => ({ ...prev, [field]: value }));
    // Once a field shows an error, re-check it as the customer types so the error goes away when fixed.
    if (errors[field]) {
      setErrors((prev) => ({ ...prev, [field]: validateField(field, value) }));
    }
    if (field === "message") announceCounter(value);
  };

  const check = (field: FieldName) => () => {
    // Only complain on leaving a field the customer typed in; "required" waits for submit.
    if (stripWhitespace(values[field]) === "" && !errors[field]) return;
    setErrors((prev) => ({ ...prev, [field]: validateField(field, values[field]) }));
  };

  const announceCounter = (value: string) => {
    const remaining = MESSAGE_MAX - charLength(stripWhitespace(value));
    const band = COUNTER_ANNOUNCE_AT.find((threshold) => remaining <= threshold) ?? null;
    if (band === lastCounterBand.current) return;
    lastCounterBand.current = band;
    if (band === null) setCounterAnnouncement("");
    else if (remaining < 0) setCounterAnnouncement(`${plural(-remaining, "character", "characters")} over the limit`);
    else setCounterAnnouncement(`${plural(remaining, "character", "characters")} left`);
  };

  const onSubmit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (inFlight.current) return;
    const clientErrors = validateForm(values);
    setErrors(clientErrors);
    const invalid = DISPLAY_ORDER.filter((f) => clientErrors[f]);
    if (invalid.length) {
      setNotice({
        tone: "error",
        text: `Please check ${plural(invalid.length, "field", "fields")}: ${invalid.map((f) => FIELD_NOUNS[f]).join(", ")}.`,
      });
      focusFirstInvalid(clientErrors);
      return;
    }

    inFlight.current = true;
    setSubmitting(true);
    setNotice({ tone: "info", text: "Sending your request…" });
    const payload = toPayload(values);
    if (identityToken) payload.identity_token = identityToken;
    const body = JSON.stringify(payload);
    // Same details as a failed attempt → same key, so a request that did reach the edge names the same ticket.
    const key = attempt.current?.body === body ? attempt.current.key : newIdempotencyKey();
    attempt.current = { body, key };

    try {
      let outcome: SubmitOutcome = await submit(api, payload, key);
      for (let retry = 1; retry <= AUTO_RETRIES; retry++) {
        const transient =
          outcome.kind === "network" || (outcome.kind === "unavailable" && outcome.retryAfterS <= 10);
        if (!transient) break;
        setNotice({ tone: "info", text: "Still sending: the connection is slow, trying again…" });
        await sleep(outcome.kind === "unavailable" ? outcome.retryAfterS * 1000 : 1500 * retry);
        outcome = await submit(api, payload, key);
      }

      if (outcome.kind === "accepted") {
        attempt.current = null;
        setNotice(null);
        onAccepted(outcome.ticket);
        return;
      }
      if (outcome.kind === "invalid") {
        setErrors(outcome.fieldErrors);
        const count = Object.keys(outcome.fieldErrors).length;
        setNotice({
          tone: "error",
          text: outcome.formError ?? `Please check ${plural(count, "field", "fields")} and try again.`,
        });
        focusFirstInvalid(outcome.fieldErrors);
        return;
      }
      setNotice({ tone: "error", text: noticeFor(outcome) });
    } finally {
      inFlight.current = false;
      setSubmitting(false);
    }
  };

  const messageLength = charLength(stripWhitespace(values.message));
  const overLimit = messageLength > MESSAGE_MAX;
  const Heading = headingLevel === 1 ? "h1" : "h2";
  const noticeId = `fb-${uid}-notice`;

  const common = (field: FieldName, options: { hint?: boolean; extra?: string } = {}) => ({
    id: fieldId(field),
    name: field,
    value: values[field],
    onChange: update(field),
    onBlur: check(field),
    "aria-invalid": errors[field] ? true : undefined,
    "aria-describedby": describedBy(fieldId(field), options),
    ref: (el: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null) => {
      controls.current[field] = el;
    },
  });

  return (
    <form className="fb-form" noValidate onSubmit={onSubmit} aria-busy={submitting} aria-labelledby={`fb-${uid}-title`}>
      <div className="fb-form-head">
        <Heading className="fb-title" id={`fb-${uid}-title`}>
          Contact support
        </Heading>
        <p className="fb-lead">
          Tell us what is going on. Our AI assistant answers most questions within minutes and hands anything it
          can’t solve to a person on our team.
        </p>
      </div>

      <div className="fb-grid">
        <Field id={fieldId("name")} label={FIELD_LABELS.name} error={errors.name}>
          <input className="fb-input" type="text" autoComplete="name" required {...common("name")} />
        </Field>

        <Field id={fieldId("email")} label={FIELD_LABELS.email} error={errors.email} errorLines={2}>
          <input
            className="fb-input"
            type="email"
            inputMode="email"
            autoComplete="email"
            spellCheck={false}
            required
            {...common("email")}
          />
        </Field>

        <Field id={fieldId("category")} label={FIELD_LABELS.category} error={errors.category}>
          <div className="fb-select-wrap">
            <select className="fb-input fb-select" required {...common("category")}>
              <option value="" disabled>
                Choose a category
              </option>
              {CATEGORIES.map((c) => (
                <option key={c} value={c}>
                  {CATEGORY_LABELS[c] ?? c}
                </option>
              ))}
            </select>
          </div>
        </Field>

        <Field
          id={fieldId("phone")}
          label={FIELD_LABELS.phone}
          optional
          hint={`Format: ${PHONE_EXAMPLE}`}
          hintPlacement="below"
          error={errors.phone}
          errorLines={2}
        >
          <input className="fb-input" type="tel" inputMode="tel" autoComplete="tel" {...common("phone", { hint: true })} />
        </Field>

        <Field id={fieldId("subject")} label={FIELD_LABELS.subject} error={errors.subject} className="fb-span-all">
          <input className="fb-input" type="text" required {...common("subject")} />
        </Field>

        <Field
          id={fieldId("message")}
          label={FIELD_LABELS.message}
          hint={`Describe the problem and what you expected (at least ${MESSAGE_MIN} characters).`}
          error={errors.message}
          errorLines={2}
          className="fb-span-all"
          aside={
            <span
              className={`fb-counter${overLimit ? " fb-counter--over" : ""}`}
              id={`${fieldId("message")}-counter`}
              data-testid="message-counter"
            >
              {messageLength.toLocaleString("en-US")} / {MESSAGE_MAX.toLocaleString("en-US")}
            </span>
          }
        >
          <textarea
            className="fb-input fb-textarea"
            rows={6}
            required
            {...common("message", { hint: true, extra: `${fieldId("message")}-counter` })}
          />
        </Field>
      </div>
      <p className="fb-sr-only" aria-live="polite">
        {counterAnnouncement}
      </p>

      <div className="fb-actions">
        <button
          type="submit"
          className="fb-button fb-button--primary"
          aria-disabled={submitting || undefined}
          aria-describedby={noticeId}
        >
          {submitting ? <span className="fb-spinner" aria-hidden="true" /> : null}
          <span>{submitting ? "Sending…" : "Send request"}</span>
        </button>
        <div className="fb-notice-slot" id={noticeId}>
          <p className="fb-notice fb-notice--info" role="status">
            {notice?.tone === "info" ? notice.text : ""}
          </p>
          <p className="fb-notice fb-notice--error" role="alert">
            {notice?.tone === "error" ? notice.text : ""}
          </p>
        </div>
      </div>
    </form>
  );
}
