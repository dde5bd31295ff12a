// The server's rules, generated from services.edge.forms.SupportSubmission by
// scripts/export_limits.py. Never write a limit by hand here: re-run the script.
import generated from "./limits.json";

export const FIELD_NAMES = ["name", "email", "subject", "category", "message", "phone"] as const;
export type FieldName = (typeof FIELD_NAMES)[number];

export interface FieldRule {
  required: boolean;
  minLength?: number;
  maxLength?: number;
  format?: string;
  enum?: string[];
}

export interface Limits {
  stripWhitespace: boolean;
  fields: Record<FieldName, FieldRule>;
}

export const LIMITS: Limits = generated as unknown as Limits;

export const CATEGORIES: readonly string[] = LIMITS.fields.category.enum ?? [];

export function isFieldName(value: unknown): value is FieldName {
  return typeof value === "string" && (FIELD_NAMES as readonly string[]).includes(value);
}
