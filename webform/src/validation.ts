// Client-side checks that give the same answer as the edge's pydantic model, so the form
// never rejects what the server accepts (and vice versa, for everything but the phone
// number's validity and rare e-mail corner cases, which the server reports as a 422 that
// the form shows next to the same field).
import { FIELD_NAMES, LIMITS, type FieldName } from "./limits";

export type FormValues = Record<FieldName, string>;
export type FieldErrors = Partial<Record<FieldName, string>>;

export const EMPTY_VALUES: FormValues = {
  name: "",
  email: "",
  subject: "",
  category: "",
  message: "",
  phone: "",
};

// pydantic-core strips with Rust's str::trim, i.e. Unicode White_Space. JavaScript's
// String.prototype.trim differs (it strips U+FEFF and keeps U+0085), so spell the set out.
const WHITE_SPACE =
  "\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
const EDGE_WHITE_SPACE = new RegExp(`^[${WHITE_SPACE}]+|[${WHITE_SPACE}]+$`, "gu");

export function stripWhitespace(value: string): string {
  return LIMITS.stripWhitespace ? value.replace(EDGE_WHITE_SPACE, "") : value;
}

/** pydantic strips str fields only; a Literal (the category) is compared as sent. */
function asServerSees(field: FieldName, raw: string): string {
  return LIMITS.fields[field].enum ? raw : stripWhitespace(raw);
}

/** Length as Python counts it: Unicode code points, not UTF-16 units ("😀" is 1, not 2). */
export function charLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

const REQUIRED_MESSAGES: Record<FieldName, string> = {
  name: "Enter your name",
  email: "Enter your email address",
  subject: "Enter a subject",
  category: "Choose a category",
  message: "Tell us how we can help",
  phone: "Enter a phone number",
};

export const tooShort = (min: number) => `Use at least ${min} characters`;
export const tooLong = (max: number) => `Use at most ${max} characters`;
export const INVALID_EMAIL = "Enter a valid email address";
export const INVALID_PHONE = "Enter a valid phone number";
/** No-break spaces: the number never splits across lines. */
export const PHONE_EXAMPLE = "+351\u00a0912\u00a0345\u00a0678";
export const INVALID_CATEGORY = "Choose one of the listed categories";

// Names the e-mail validator on the server refuses (RFC 6761 special-use domains).
const SPECIAL_USE_DOMAINS = ["arpa", "invalid", "local", "localhost", "onion", "test"];
// Letters, digits and these symbols may appear unquoted before the @ (RFC 5322 atext);
// non-ASCII letters are allowed too, as on the server (SMTPUTF8).
const LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+$/u;
const DOMAIN_LABEL = /^(?!-)[A-Za-z0-9\u0080-\u{10FFFF}-]{1,63}(?<!-)$/u;

/** Syntax rules of the server's validator (email-validator, no deliverability check). */
export function isValidEmail(email: string): boolean {
  const at = email.lastIndexOf("@");
  if (at <= 0 || at === email.length - 1) return false;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  // No 64-character cap on the local part: the server's validator does not apply one.
  if (domain.length > 253) return false;
  const atoms = local.split(".");
  if (atoms.some((atom) => !LOCAL_ATOM.test(atom))) return false; // also: "", "..", leading/trailing "."
  const labels = domain.split(".");
  if (labels.length < 2) return false; // the domain must have a period
  if (labels.some((label) => !DOMAIN_LABEL.test(label))) return false;
  const tld = labels[labels.length - 1];
  if (/^[0-9]+$/.test(tld)) return false;
  if (SPECIAL_USE_DOMAINS.includes(tld.toLowerCase())) return false;
  return true;
}

/**
 * A phone number the server could plausibly accept: digits with the usual separators,
 * optionally starting with "+", and 7 to 15 digits (E.164). Whether the number exists in
 * its country is decided by the server (libphonenumber), whose 422 lands on this field.
 */
export function isPlausiblePhone(phone: string): boolean {
  if (!/^\+?[0-9\s().\-/]+$/.test(phone)) return false;
  const digits = phone.replace(/[^0-9]/g, "").length;
  return digits >= 7 && digits <= 15;
}

/** The error to show for one field, or undefined when the server would accept it. */
export function validateField(field: FieldName, raw: string): string | undefined {
  const rule = LIMITS.fields[field];
  const value = asServerSees(field, raw);
  if (value === "") {
    return rule.required ? REQUIRED_MESSAGES[field] : undefined;
  }
  const length = charLength(value);
  if (rule.minLength !== undefined && length < rule.minLength) return tooShort(rule.minLength);
  if (rule.maxLength !== undefined && length > rule.maxLength) return tooLong(rule.maxLength);
  if (rule.enum && !rule.enum.includes(value)) return INVALID_CATEGORY;
  if (rule.format === "email" && !isValidEmail(value)) return INVALID_EMAIL;
  if (field === "phone" && !isPlausiblePhone(value)) return INVALID_PHONE;
  return undefined;
}

export function validateForm(values: FormValues): FieldErrors {
  const errors: FieldErrors = {};
  for (const field of FIELD_NAMES) {
    const error = validateField(field, values[field]);
    if (error) errors[field] = error;
  }
  return errors;
}

/** The JSON body for POST /support/submit: stripped values, no empty optional phone. */
export function toPayload(values: FormValues): Record<string, string> {
  const payload: Record<string, string> = {};
  for (const field of FIELD_NAMES) {
    const value = asServerSees(field, values[field]);
    if (value === "" && !LIMITS.fields[field].required) continue;
    payload[field] = value;
  }
  return payload;
}
