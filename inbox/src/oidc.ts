// Sign-in with the company's identity provider: OAuth 2.0 authorization code with PKCE
// (RFC 7636, S256), as a public client (no secret in the browser). The edge tells the app the
// issuer and client id (`GET /inbox/api/config`); the provider's endpoints come from its
// discovery document. The token the provider returns (the id token, or the access token when
// configured) is then used exactly like a pasted key: `Authorization: Bearer <JWT>`, checked by
// the access service (issuer, audience, signature, the `roles` claim).

export interface OidcConfig {
  issuer: string;
  client_id: string;
  scope: string;
  /** Which token of the provider's answer the edge accepts. */
  token: "id_token" | "access_token";
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

const PENDING = "fte-inbox-oidc-pending";

export function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function randomString(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

async function discover(config: OidcConfig, fetchImpl: FetchLike): Promise<Discovery> {
  const url = `${config.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let response: Response;
  try {
    response = await fetchImpl(url, { headers: { Accept: "application/json" } });
  } catch {
    throw new Error("the identity provider cannot be reached");
  }
  if (!response.ok) throw new Error(`the identity provider answered ${response.status}`);
  const doc = (await response.json()) as Partial<Discovery>;
  if (!doc.authorization_endpoint || !doc.token_endpoint) throw new Error("the identity provider's discovery document is incomplete");
  return doc as Discovery;
}

/** Where the provider sends the browser back: this page, without query or hash. */
export const redirectUri = (loc: Pick<Location, "origin" | "pathname">) => `${loc.origin}${loc.pathname}`;

/** Builds the authorization URL and remembers the verifier and state for the way back. */
export async function beginSignIn(
  config: OidcConfig,
  redirect: string,
  { fetchImpl = (i, o) => fetch(i, o), storage = sessionStorage }: { fetchImpl?: FetchLike; storage?: Storage } = {},
): Promise<string> {
  const { authorization_endpoint } = await discover(config, fetchImpl);
  const verifier = randomString(48);
  const state = randomString(16);
  storage.setItem(PENDING, JSON.stringify({ verifier, state, redirect }));
  const url = new URL(authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirect,
    scope: config.scope,
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  }).toString();
  return url.toString();
}

/** The way back: `search` is the page's query string. Returns null when it is not an OIDC
 * answer; the token when the code was exchanged; throws when the provider refused or the state
 * does not match (a forged or stale answer). */
export async function completeSignIn(
  config: OidcConfig,
  search: string,
  { fetchImpl = (i, o) => fetch(i, o), storage = sessionStorage }: { fetchImpl?: FetchLike; storage?: Storage } = {},
): Promise<string | null> {
  const params = new URLSearchParams(search);
  const code = params.get("code");
  const error = params.get("error");
  if (!code && !error) return null;
  const pending = JSON.parse(storage.getItem(PENDING) ?? "null") as { verifier: string; state: string; redirect: string } | null;
  storage.removeItem(PENDING);
  if (error) throw new Error(`the identity provider refused: ${params.get("error_description") ?? error}`);
  if (!pending || params.get("state") !== pending.state) throw new Error("this sign-in answer does not match a sign-in started here; try again");
  const { token_endpoint } = await discover(config, fetchImpl);
  const response = await fetchImpl(token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: code!,
      redirect_uri: pending.redirect,
      client_id: config.client_id,
      code_verifier: pending.verifier,
    }).toString(),
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, string>;
  if (!response.ok) throw new Error(`the identity provider refused the code: ${body.error_description ?? body.error ?? response.status}`);
  const token = body[config.token];
  if (!token) throw new Error(`the identity provider sent no ${config.token}`);
  return token;
}
