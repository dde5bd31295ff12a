import type { ReactNode } from "react";

interface FieldProps {
  id: string;
  label: string;
  optional?: boolean;
  hint?: ReactNode;
  /** "below": the hint shares the reserved error line (shown while there is no error). */
  hintPlacement?: "above" | "below";
  error?: string;
  /** Extra element under the control, left of the error line (e.g. a character counter). */
  aside?: ReactNode;
  /** Lines reserved for the error: 2 where the server's free-text messages can land (or a counter narrows the line). */
  errorLines?: 1 | 2;
  className?: string;
  children: ReactNode;
}

/** Label, optional hint, the control, and an error line whose space is always reserved. */
export function Field({ id, label, optional, hint, hintPlacement = "above", error, aside, errorLines = 1, className, children }: FieldProps) {
  const classes = ["fb-field", error ? "fb-field--invalid" : "", errorLines === 2 ? "fb-field--two-line-error" : "", className ?? ""];
  return (
    <div className={classes.filter(Boolean).join(" ")}>
      <label className="fb-label" htmlFor={id}>
        {label}
        {optional ? <span className="fb-optional"> (optional)</span> : null}
      </label>
      {hint && hintPlacement === "above" ? (
        <p className="fb-hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {children}
      <div className="fb-below">
        {hint && hintPlacement === "below" && !error ? (
          <p className="fb-hint fb-hint--below" id={`${id}-hint`}>
            {hint}
          </p>
        ) : null}
        {/* The text is clamped to the reserved lines so a long message moves nothing; the whole of it
            stays in the DOM, so aria-live and aria-describedby read it in full (title shows it on hover). */}
        <p className="fb-error" id={`${id}-error`} aria-live="polite" title={error || undefined}>
          {error ? (
            <>
              <svg className="fb-error-icon" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
                <circle cx="8" cy="8" r="7" />
                <path d="M8 4.2v4.6M8 11.2v.1" />
              </svg>
              <span className="fb-error-text">{error}</span>
            </>
          ) : null}
        </p>
        {aside}
      </div>
    </div>
  );
}

export function describedBy(id: string, options: { hint?: boolean; extra?: string } = {}): string {
  return [options.hint ? `${id}-hint` : "", `${id}-error`, options.extra ?? ""].filter(Boolean).join(" ");
}
