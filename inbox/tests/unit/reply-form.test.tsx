import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ReplyForm } from "../../src/components/ReplyForm";

function setup(send = vi.fn().mockResolvedValue({ duplicate: false }), disabledReason?: string) {
  let n = 0;
  render(<ReplyForm channel="web_form" send={send} disabledReason={disabledReason} newKey={() => `key-${++n}`} />);
  return { send, box: screen.getByLabelText("Reply to the customer"), button: screen.getByRole("button", { name: /Send reply|Sending/ }) };
}

test("a blank reply is refused without a call", async () => {
  const { send, button, box } = setup();
  await userEvent.click(button);
  expect(send).not.toHaveBeenCalled();
  expect(screen.getByRole("alert")).toHaveTextContent("Write a reply first.");
  expect(box).toHaveFocus();
});

test("sending: disabled while it goes, then cleared and confirmed", async () => {
  let finish!: (v: { duplicate: boolean }) => void;
  const send = vi.fn(() => new Promise<{ duplicate: boolean }>((r) => (finish = r)));
  const { box, button } = setup(send);
  await userEvent.type(box, "Hello Ada, a colleague from sales here.");
  await userEvent.click(button);
  expect(send).toHaveBeenCalledWith("Hello Ada, a colleague from sales here.", "key-1");
  expect(screen.getByRole("button", { name: "Sending…" })).toBeDisabled();
  finish({ duplicate: false });
  expect(await screen.findByText("Reply sent.")).toBeInTheDocument();
  expect(box).toHaveValue("");
});

test("a failed send keeps the draft and retries with the same key; the next reply gets a new one", async () => {
  const send = vi.fn().mockRejectedValueOnce(new Error("a service is unavailable, try again shortly")).mockResolvedValue({ duplicate: false });
  const { box, button } = setup(send);
  await userEvent.type(box, "First answer");
  await userEvent.click(button);
  expect(await screen.findByRole("alert")).toHaveTextContent("a service is unavailable");
  expect(box).toHaveValue("First answer");
  await userEvent.click(button);
  await screen.findByText("Reply sent.");
  await userEvent.type(box, "Second answer");
  await userEvent.click(button);
  expect(send.mock.calls.map((c) => c[1])).toEqual(["key-1", "key-1", "key-2"]);
});

test("a duplicate is reported as already sent", async () => {
  const { box, button } = setup(vi.fn().mockResolvedValue({ duplicate: true }));
  await userEvent.type(box, "Again");
  await userEvent.click(button);
  expect(await screen.findByText(/Already sent earlier/)).toBeInTheDocument();
});

test("over 10000 characters is refused and counted", async () => {
  const { send, box, button } = setup();
  await userEvent.click(box);
  await userEvent.paste("x".repeat(10_001));
  expect(screen.getByText("10001 / 10000")).toHaveClass("error");
  expect(box).toHaveAttribute("aria-invalid", "true");
  await userEvent.click(button);
  expect(send).not.toHaveBeenCalled();
});

test("Ctrl+Enter sends from the box", async () => {
  const { send, box } = setup();
  await userEvent.type(box, "Quick one");
  await userEvent.keyboard("{Control>}{Enter}{/Control}");
  expect(send).toHaveBeenCalledWith("Quick one", "key-1");
});

test("disabled with the reason when the operator may not reply", () => {
  const { box, button } = setup(undefined, "Your role (viewer) may read but not reply.");
  expect(box).toBeDisabled();
  expect(button).toBeDisabled();
  expect(screen.getByText("Your role (viewer) may read but not reply.")).toBeInTheDocument();
});
