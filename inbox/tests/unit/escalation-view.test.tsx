import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { EscalationDetail, InboxApi, Me } from "../../src/api";
import { EscalationView } from "../../src/components/EscalationView";
import { escalation, NOW } from "./fixtures";

const AGENT: Me = { subject: "api-key:me", display_name: "Sam", role: "agent" };
const VIEWER: Me = { subject: "api-key:v", display_name: "Vic", role: "viewer" };

function detail(overrides: Partial<EscalationDetail["escalation"]> = {}): EscalationDetail {
  return {
    escalation: escalation(overrides),
    emails: [],
    phones: ["+12025550142"],
    messages: [
      { message_id: "m1", ticket_id: "old", channel: "whatsapp", direction: "inbound", role: "customer", content: "Team plans?", subject: "", time: "2026-12-01T10:00:00Z", delivery_status: "" },
      { message_id: "m2", ticket_id: "22222222-2222-4222-8222-222222222222", channel: "web_form", direction: "inbound", role: "customer", content: "40 seats price?", subject: "Discount", time: "2026-12-02T11:00:00Z", delivery_status: "" },
    ],
    context: {},
  };
}

function fakeApi(first = detail()) {
  let current = first;
  return {
    get: vi.fn(async () => current),
    claim: vi.fn(async () => {
      current = detail({ state: "claimed", owner: { subject: "api-key:me", display_name: "Sam" } });
      return { escalation: current.escalation, already_claimed: false };
    }),
  } as unknown as InboxApi & { get: ReturnType<typeof vi.fn>; claim: ReturnType<typeof vi.fn> };
}

test("shows the history on every channel and the agent's note, and focuses its heading", async () => {
  render(<EscalationView api={fakeApi()} me={AGENT} escalationId="e" now={NOW} onChanged={vi.fn()} />);
  const heading = await screen.findByRole("heading", { level: 2, name: /Ada Lovelace/ });
  await waitFor(() => expect(heading).toHaveFocus());
  const history = screen.getByRole("region", { name: "History on every channel" });
  expect(within(history).getAllByRole("listitem").map((li) => li.textContent)).toEqual([
    expect.stringMatching(/WhatsApp.*earlier ticket.*Team plans\?/),
    expect.stringMatching(/Web form.*40 seats price\?/),
  ]);
  expect(screen.getByRole("region", { name: "Agent's note" })).toHaveTextContent("Asks for a discount on 40 seats.");
  expect(screen.getByText("1 h left")).toBeInTheDocument();
});

test("claiming reloads the escalation and tells the queue", async () => {
  const api = fakeApi();
  const onChanged = vi.fn();
  render(<EscalationView api={api} me={AGENT} escalationId="e" now={NOW} onChanged={onChanged} />);
  await userEvent.click(await screen.findByRole("button", { name: "Claim" }));
  expect(await screen.findByText("Claimed by Sam (you)")).toBeInTheDocument();
  expect(api.claim).toHaveBeenCalledWith("11111111-1111-4111-8111-111111111111");
  expect(onChanged).toHaveBeenCalled();
  expect(screen.queryByRole("button", { name: "Claim" })).toBeNull();
});

test("a viewer reads but every action is disabled", async () => {
  render(<EscalationView api={fakeApi()} me={VIEWER} escalationId="e" now={NOW} onChanged={vi.fn()} />);
  expect(await screen.findByRole("button", { name: "Claim" })).toBeDisabled();
  expect(screen.getByRole("button", { name: "Resolve" })).toBeDisabled();
  expect(screen.getByLabelText("Reply to the customer")).toBeDisabled();
});

test("someone else's claim blocks the reply and says who", async () => {
  const api = fakeApi(detail({ state: "claimed", owner: { subject: "api-key:kim", display_name: "Kim" } }));
  render(<EscalationView api={api} me={AGENT} escalationId="e" now={NOW} onChanged={vi.fn()} />);
  expect(await screen.findByText("Kim owns this escalation.")).toBeInTheDocument();
  expect(screen.getByLabelText("Reply to the customer")).toBeDisabled();
});
