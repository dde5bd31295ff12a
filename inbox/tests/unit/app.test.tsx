import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ApiError, createApi, type InboxApi } from "../../src/api";
import { App, CREDENTIAL_KEY } from "../../src/components/App";
import { escalation } from "./fixtures";

function fakeApi(credential: string): InboxApi {
  const ok = credential === "fte_good";
  return {
    me: async () => {
      if (!ok) throw new ApiError(401, "the credential is not valid");
      return { subject: "api-key:1", display_name: "Sam Agent", role: "agent" };
    },
    list: async () => ({ escalations: [escalation()], next_page_token: "" }),
    get: vi.fn(),
    claim: vi.fn(),
    reply: vi.fn(),
    resolve: vi.fn(),
    reopen: vi.fn(),
  } as unknown as InboxApi;
}

const noProvider = async () => ({ oidc: null });

beforeEach(() => sessionStorage.clear());

test("signing in with a key keeps it in this tab and shows the queue", async () => {
  render(<App makeApi={fakeApi} loadConfig={async () => ({ oidc: null, teams: ["billing", "sales"] })} />);
  const input = screen.getByLabelText("API key");
  expect(input).toHaveFocus();
  await userEvent.type(input, "fte_good{Enter}");
  expect(await screen.findByRole("heading", { name: "Queue" })).toBeInTheDocument();
  expect(screen.getByText(/Sam Agent/)).toBeInTheDocument();
  expect(await screen.findByRole("link", { name: /Ada Lovelace/ })).toBeInTheDocument();
  expect(sessionStorage.getItem(CREDENTIAL_KEY)).toBe("fte_good");
  // Every configured team is a filter choice, not only those with something queued.
  expect([...screen.getByLabelText<HTMLSelectElement>("Team").options].map((o) => o.value)).toEqual(["", "billing", "sales"]);

  await userEvent.click(screen.getByRole("button", { name: "Sign out" }));
  expect(sessionStorage.getItem(CREDENTIAL_KEY)).toBeNull();
  expect(screen.getByLabelText("API key")).toBeInTheDocument();
});

test("a refused key is said, and nothing is stored", async () => {
  render(<App makeApi={fakeApi} loadConfig={noProvider} />);
  await userEvent.type(screen.getByLabelText("API key"), "fte_bad{Enter}");
  expect(await screen.findByRole("alert")).toHaveTextContent("That key was refused");
  expect(sessionStorage.getItem(CREDENTIAL_KEY)).toBeNull();
});

test("a stored key that stopped working sends the operator back to sign in", async () => {
  sessionStorage.setItem(CREDENTIAL_KEY, "fte_revoked");
  render(<App makeApi={fakeApi} loadConfig={noProvider} />);
  expect(await screen.findByRole("alert")).toHaveTextContent("Your session ended");
  expect(sessionStorage.getItem(CREDENTIAL_KEY)).toBeNull();
});

test("the API sends the credential as a Bearer token and reads the edge's detail", async () => {
  const fetchImpl = vi.fn(async (_url: string, _init?: RequestInit) => new Response(JSON.stringify({ detail: "another person owns it: Kim" }), { status: 409 }));
  const api = createApi("fte_key", "/inbox/api", fetchImpl);
  await expect(api.claim("e-1")).rejects.toMatchObject({ status: 409, message: "another person owns it: Kim" });
  const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
  expect(url).toBe("/inbox/api/escalations/e-1/claim");
  expect((init.headers as Record<string, string>).Authorization).toBe("Bearer fte_key");

  fetchImpl.mockResolvedValueOnce(new Response(JSON.stringify({ escalations: [], next_page_token: "" })));
  await api.list({ states: ["open", "claimed"], team: "sales", reason: "refund" });
  expect(fetchImpl.mock.calls[1][0]).toBe("/inbox/api/escalations?state=open&state=claimed&team=sales&reason=refund&page_size=100");
});

test("with a provider configured, the sign-in page offers the company account", async () => {
  const loadConfig = async () => ({ oidc: { issuer: "https://login.example.com", client_id: "fte-inbox", scope: "openid", token: "id_token" as const } });
  render(<App makeApi={fakeApi} loadConfig={loadConfig} />);
  expect(await screen.findByRole("button", { name: "Sign in with your company account" })).toBeInTheDocument();
  expect(screen.getByLabelText("API key")).toBeInTheDocument();
});

test("the notifier's link opens that escalation", async () => {
  const { routeOf } = await import("../../src/components/App");
  expect(routeOf("#/escalations/11111111-1111-4111-8111-111111111111")).toBe("11111111-1111-4111-8111-111111111111");
  expect(routeOf("#/escalation/11111111-1111-4111-8111-111111111111")).toBe("11111111-1111-4111-8111-111111111111");
  expect(routeOf("#/")).toBeNull();
  expect(routeOf("#main-pane")).toBeNull();
});
