import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, type Me } from "../api";

interface Props {
  /** Checks a credential with the edge (`GET /inbox/api/me`). */
  check: (credential: string) => Promise<Me>;
  onSignedIn: (credential: string, me: Me) => void;
  /** Why the operator is here again (an expired or revoked key). */
  notice?: string;
  /** Offered when the edge names an identity provider: starts the redirect (code + PKCE). */
  onCompanySignIn?: () => Promise<void>;
}

/** Sign in by pasting an API key (`fte_…`) or an OIDC token; kept only for this browser tab. */
export function SignIn({ check, onSignedIn, notice, onCompanySignIn }: Props) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(notice ?? "");
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => input.current?.focus(), []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const credential = key.trim();
    if (!credential) {
      setError("Paste your API key first.");
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError("");
    try {
      const me = await check(credential);
      onSignedIn(credential, me);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? "That key was refused. Check it and try again." : (err as Error).message);
      setBusy(false);
      input.current?.focus();
    }
  }

  async function company() {
    setBusy(true);
    setError("");
    try {
      await onCompanySignIn!();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  }

  return (
    <main className="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Support inbox</h1>
      {onCompanySignIn && (
        <>
          <button type="button" className="company" onClick={company} disabled={busy}>
            Sign in with your company account
          </button>
          <p className="or">or</p>
        </>
      )}
      <form onSubmit={submit} noValidate>
        <label htmlFor="credential">API key</label>
        <p id="credential-hint" className="hint">
          Your personal key (<code>fte_…</code>) or an OIDC token. Kept in this tab only, until you sign out or close it.
        </p>
        <input
          id="credential"
          ref={input}
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-describedby={error ? "credential-hint credential-error" : "credential-hint"}
          aria-invalid={error ? true : undefined}
        />
        {error && (
          <p id="credential-error" className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
