import { createHash } from "node:crypto";
import { beginSignIn, challengeOf, completeSignIn, type OidcConfig } from "../../src/oidc";

const CONFIG: OidcConfig = { issuer: "https://login.example.com/realms/fb/", client_id: "fte-inbox", scope: "openid profile", token: "id_token" };
const DISCOVERY = {
  authorization_endpoint: "https://login.example.com/realms/fb/auth",
  token_endpoint: "https://login.example.com/realms/fb/token",
};

function provider(tokenAnswer: { status: number; body: unknown } = { status: 200, body: { id_token: "eyJ.id.token", access_token: "eyJ.access" } }) {
  return vi.fn(async (url: string, _init?: RequestInit) => {
    if (url === "https://login.example.com/realms/fb/.well-known/openid-configuration") return new Response(JSON.stringify(DISCOVERY));
    if (url === DISCOVERY.token_endpoint) return new Response(JSON.stringify(tokenAnswer.body), { status: tokenAnswer.status });
    return new Response("", { status: 404 });
  });
}

beforeEach(() => sessionStorage.clear());

test("the S256 challenge is the unpadded base64url SHA-256 of the verifier (checked with node:crypto)", async () => {
  for (const verifier of ["dBjftJeZ4CVP-mB92K27uhbUlnF3pFmy6L1-0rJUVbU", "a".repeat(128), "x~y.z_0-9"]) {
    const expected = createHash("sha256").update(verifier).digest("base64url");
    expect(await challengeOf(verifier)).toBe(expected);
  }
});

test("sign-in goes to the provider's authorization endpoint with a PKCE challenge and a state", async () => {
  const url = new URL(await beginSignIn(CONFIG, "https://support.example.com/inbox/", { fetchImpl: provider() }));
  expect(`${url.origin}${url.pathname}`).toBe(DISCOVERY.authorization_endpoint);
  const q = Object.fromEntries(url.searchParams);
  expect(q).toMatchObject({ response_type: "code", client_id: "fte-inbox", redirect_uri: "https://support.example.com/inbox/", scope: "openid profile", code_challenge_method: "S256" });
  const pending = JSON.parse(sessionStorage.getItem("fte-inbox-oidc-pending")!);
  expect(q.state).toBe(pending.state);
  expect(q.code_challenge).toBe(await challengeOf(pending.verifier));
  expect(pending.verifier.length).toBeGreaterThanOrEqual(43);
});

test("the way back exchanges the code with the verifier and returns the configured token", async () => {
  const fetchImpl = provider();
  const url = new URL(await beginSignIn(CONFIG, "https://support.example.com/inbox/", { fetchImpl }));
  const state = url.searchParams.get("state");
  const { verifier } = JSON.parse(sessionStorage.getItem("fte-inbox-oidc-pending")!);

  expect(await completeSignIn(CONFIG, `?code=abc&state=${state}`, { fetchImpl })).toBe("eyJ.id.token");

  const [, init] = fetchImpl.mock.calls.find(([u]) => u === DISCOVERY.token_endpoint)!;
  expect(Object.fromEntries(new URLSearchParams(init!.body as string))).toEqual({
    grant_type: "authorization_code", code: "abc", redirect_uri: "https://support.example.com/inbox/", client_id: "fte-inbox", code_verifier: verifier,
  });
  expect(sessionStorage.getItem("fte-inbox-oidc-pending")).toBeNull();
});

test("an answer whose state does not match is refused, and nothing is exchanged", async () => {
  const fetchImpl = provider();
  await beginSignIn(CONFIG, "https://support.example.com/inbox/", { fetchImpl });
  await expect(completeSignIn(CONFIG, "?code=abc&state=forged", { fetchImpl })).rejects.toThrow(/does not match/);
  expect(fetchImpl.mock.calls.some(([u]) => u === DISCOVERY.token_endpoint)).toBe(false);
});

test("the provider's refusal is said", async () => {
  await expect(completeSignIn(CONFIG, "?error=access_denied&error_description=Not+allowed", { fetchImpl: provider() })).rejects.toThrow("Not allowed");
  const fetchImpl = provider({ status: 400, body: { error: "invalid_grant" } });
  await beginSignIn(CONFIG, "https://x/inbox/", { fetchImpl });
  const { state } = JSON.parse(sessionStorage.getItem("fte-inbox-oidc-pending")!);
  await expect(completeSignIn(CONFIG, `?code=c&state=${state}`, { fetchImpl })).rejects.toThrow("invalid_grant");
});

test("a page without an answer is not a sign-in", async () => {
  expect(await completeSignIn(CONFIG, "", { fetchImpl: provider() })).toBeNull();
});
