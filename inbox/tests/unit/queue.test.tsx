import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Queue, byTeam } from "../../src/components/Queue";
import type { QueueFilters } from "../../src/api";
import { escalation, NOW } from "./fixtures";

const FILTERS: QueueFilters = { states: [], team: "", reason: "" };

function renderQueue(overrides: Partial<Parameters<typeof Queue>[0]> = {}) {
  const props = {
    escalations: [
      escalation(),
      escalation({ escalation_id: "a1111111-1111-4111-8111-111111111111", team: "billing", reason: "refund", customer_name: "Grace", subject: "Refund please", reply_due_at: "2026-12-02T11:00:00Z", breached: true }),
      escalation({ escalation_id: "b1111111-1111-4111-8111-111111111111", customer_name: "Linus", state: "claimed", owner: { subject: "api-key:1", display_name: "Sam" } }),
    ],
    filters: FILTERS,
    onFilters: vi.fn(),
    teams: ["billing", "sales"],
    selectedId: null,
    now: NOW,
    loading: false,
    error: "",
    onRefresh: vi.fn(),
    hasMore: false,
    onMore: vi.fn(),
    ...overrides,
  };
  render(<Queue {...props} />);
  return props;
}

test("groups by team, keeping the oldest-first order inside each", () => {
  const groups = byTeam([escalation({ team: "sales", customer_name: "1" }), escalation({ team: "billing" }), escalation({ team: "sales", customer_name: "2" })]);
  expect(groups.map(([t, items]) => [t, items.length])).toEqual([["billing", 1], ["sales", 2]]);
  expect(groups[1][1].map((e) => e.customer_name)).toEqual(["1", "2"]);
});

test("shows each team's escalations with the time left, breached and the owner", () => {
  renderQueue();
  const sales = screen.getByRole("region", { name: /sales/ });
  const links = within(sales).getAllByRole("link");
  expect(links).toHaveLength(2);
  expect(links[0]).toHaveTextContent("Ada Lovelace");
  expect(links[0]).toHaveTextContent("1 h left");
  expect(links[0]).toHaveAttribute("href", "#/escalations/11111111-1111-4111-8111-111111111111");
  expect(links[1]).toHaveTextContent("Claimed by Sam");
  const billing = screen.getByRole("region", { name: /billing/ });
  expect(within(billing).getByRole("link")).toHaveTextContent(/breached · 1 h overdue/);
  expect(within(billing).getByRole("link")).toHaveTextContent("Refund");
});

test("the selected escalation is marked current", () => {
  renderQueue({ selectedId: "11111111-1111-4111-8111-111111111111" });
  expect(screen.getByRole("link", { current: true })).toHaveTextContent("Ada Lovelace");
});

test("filters are labelled selects that report changes", async () => {
  const props = renderQueue();
  await userEvent.selectOptions(screen.getByLabelText("State"), "resolved");
  expect(props.onFilters).toHaveBeenLastCalledWith({ ...FILTERS, states: ["resolved"] });
  await userEvent.selectOptions(screen.getByLabelText("Team"), "billing");
  expect(props.onFilters).toHaveBeenLastCalledWith({ ...FILTERS, team: "billing" });
  await userEvent.selectOptions(screen.getByLabelText("Reason"), "legal");
  expect(props.onFilters).toHaveBeenLastCalledWith({ ...FILTERS, reason: "legal" });
});

test("an empty queue and an error say so", () => {
  renderQueue({ escalations: [] });
  expect(screen.getByText(/Nothing waiting/)).toBeInTheDocument();
});

test("an error is announced", () => {
  renderQueue({ escalations: [], error: "a service is unavailable, try again shortly" });
  expect(screen.getByRole("alert")).toHaveTextContent("a service is unavailable");
});
