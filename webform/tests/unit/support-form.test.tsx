import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { SubmitOutcome } from "../../src/api";
import { SupportForm, type SubmitFn } from "../../src/components/SupportForm";

const ACCEPTED: SubmitOutcome = {
  kind: "accepted",
  ticket: { ticket_id: "6f1c0d8e-1111-4222-8333-444455556666", message: "Thank you, Ada. We received your request.", expected_response_time: "within 5 minutes" },
};

async function fillValid(user: ReturnType<typeof userEvent.setup>) {
  await user.type(screen.getByLabelText("Your name"), "Ada Lovelace");
  await user.type(screen.getByLabelText("Email"), "ada@example.com");
  await user.selectOptions(screen.getByLabelText("Category"), "technical");
  await user.type(screen.getByLabelText("Subject"), "Export is empty");
  await user.type(screen.getByLabelText("How can we help?"), "The CSV export has no rows.");
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("support form", () => {
  it("labels every control", () => {
    render(<SupportForm api="http://edge" onAccepted={() => {}} />);
    for (const label of ["Your name", "Email", "Category", "Phone (optional)", "Subject", "How can we help?"]) {
      expect(screen.getByLabelText(label)).toBeTruthy();
    }
    expect(screen.getByRole("button", { name: "Send request" })).toBeTruthy();
  });

  it("shows client errors next to their fields, wired for screen readers, and focuses the first", async () => {
    const user = userEvent.setup();
    const submit = vi.fn<SubmitFn>();
    render(<SupportForm api="http://edge" onAccepted={() => {}} submit={submit} />);
    await user.type(screen.getByLabelText("Email"), "not-an-email");
    await user.click(screen.getByRole("button", { name: "Send request" }));

    expect(submit).not.toHaveBeenCalled();
    const email = screen.getByLabelText("Email");
    expect(email).toHaveAttribute("aria-invalid", "true");
    const errorId = email.getAttribute("aria-describedby")!.split(" ").find((id) => id.endsWith("-error"))!;
    const error = document.getElementById(errorId)!;
    expect(error).toHaveTextContent("Enter a valid email address");
    expect(error).toHaveAttribute("aria-live", "polite");
    expect(screen.getByRole("alert")).toHaveTextContent("Please check 5 fields: name, email, category, subject, message.");
    expect(screen.getByLabelText("Your name")).toHaveFocus();
  });

  it("clears a field's error as soon as it is fixed", async () => {
    const user = userEvent.setup();
    render(<SupportForm api="http://edge" onAccepted={() => {}} />);
    await user.type(screen.getByLabelText("Email"), "ada@");
    await user.tab();
    expect(screen.getByLabelText("Email")).toHaveAttribute("aria-invalid", "true");
    await user.type(screen.getByLabelText("Email"), "example.com");
    expect(screen.getByLabelText("Email")).not.toHaveAttribute("aria-invalid");
  });

  it("counts message characters like the server (after stripping, code points)", async () => {
    const user = userEvent.setup();
    render(<SupportForm api="http://edge" onAccepted={() => {}} />);
    await user.type(screen.getByLabelText("How can we help?"), "  hi 😀  ");
    expect(screen.getByTestId("message-counter")).toHaveTextContent("4 / 5,000");
  });

  it("puts the server's 422 errors next to the right fields", async () => {
    const user = userEvent.setup();
    const submit = vi.fn<SubmitFn>().mockResolvedValue({
      kind: "invalid",
      fieldErrors: { email: "The part after the @-sign is a special-use or reserved name that cannot be used with email", phone: "Not a valid phone number" },
    });
    render(<SupportForm api="http://edge" onAccepted={() => {}} submit={submit} />);
    await fillValid(user);
    await user.type(screen.getByLabelText("Phone (optional)"), "+1 555 000 0000");
    await user.click(screen.getByRole("button", { name: "Send request" }));

    await waitFor(() => expect(screen.getByLabelText("Email")).toHaveAttribute("aria-invalid", "true"));
    const describedText = (label: string) =>
      screen
        .getByLabelText(label)
        .getAttribute("aria-describedby")!
        .split(" ")
        .map((id) => document.getElementById(id)?.textContent ?? "")
        .join(" ");
    expect(describedText("Email")).toMatch(/special-use or reserved name/);
    expect(describedText("Phone (optional)")).toMatch(/Not a valid phone number/);
    expect(screen.getByLabelText("Your name")).not.toHaveAttribute("aria-invalid");
    expect(screen.getByRole("alert")).toHaveTextContent("Please check 2 fields and try again.");
    expect(screen.getByLabelText("Email")).toHaveFocus();
  });

  it("cannot double-submit: one request however often it is triggered, progress shown meanwhile", async () => {
    const user = userEvent.setup();
    const pending = deferred<SubmitOutcome>();
    const submit = vi.fn<SubmitFn>().mockReturnValue(pending.promise);
    const onAccepted = vi.fn();
    render(<SupportForm api="http://edge" onAccepted={onAccepted} submit={submit} />);
    await fillValid(user);

    const button = screen.getByRole("button", { name: "Send request" });
    const form = button.closest("form")!;
    // Two submits in the same tick (a double click) and one more after the re-render.
    act(() => {
      fireEvent.submit(form);
      fireEvent.submit(form);
    });
    await user.click(button);
    await user.keyboard("{Enter}");

    expect(submit).toHaveBeenCalledTimes(1);
    expect(button).toHaveAttribute("aria-disabled", "true");
    expect(button).toHaveTextContent("Sending…");
    expect(form).toHaveAttribute("aria-busy", "true");
    expect(screen.getByRole("status")).toHaveTextContent("Sending your request…");

    await act(async () => pending.resolve(ACCEPTED));
    expect(onAccepted).toHaveBeenCalledWith(ACCEPTED.ticket);
    expect(submit.mock.calls[0][1]).toEqual({
      name: "Ada Lovelace",
      email: "ada@example.com",
      subject: "Export is empty",
      category: "technical",
      message: "The CSV export has no rows.",
    });
  });

  it("retries a 503 with the same Idempotency-Key, and reuses it when the customer retries unchanged", async () => {
    const user = userEvent.setup();
    const submit = vi
      .fn<SubmitFn>()
      .mockResolvedValueOnce({ kind: "unavailable", retryAfterS: 1 })
      .mockResolvedValueOnce({ kind: "unavailable", retryAfterS: 1 })
      .mockResolvedValueOnce({ kind: "unavailable", retryAfterS: 1 })
      .mockResolvedValueOnce(ACCEPTED);
    const sleep = vi.fn(async () => {});
    const onAccepted = vi.fn();
    render(<SupportForm api="http://edge" onAccepted={onAccepted} submit={submit} sleep={sleep} />);
    await fillValid(user);
    await user.click(screen.getByRole("button", { name: "Send request" }));

    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent(/could not take your request/));
    expect(submit).toHaveBeenCalledTimes(3); // first try + 2 automatic retries
    expect(sleep).toHaveBeenCalledWith(1000);
    expect(onAccepted).not.toHaveBeenCalled();

    await user.click(screen.getByRole("button", { name: "Send request" }));
    await waitFor(() => expect(onAccepted).toHaveBeenCalled());
    const keys = new Set(submit.mock.calls.map((call) => call[2]));
    expect(keys.size).toBe(1);
  });

  it("uses a new Idempotency-Key when the details changed", async () => {
    const user = userEvent.setup();
    const submit = vi.fn<SubmitFn>().mockResolvedValueOnce({ kind: "rate_limited", retryAfterS: 60 }).mockResolvedValueOnce(ACCEPTED);
    render(<SupportForm api="http://edge" onAccepted={() => {}} submit={submit} />);
    await fillValid(user);
    await user.click(screen.getByRole("button", { name: "Send request" }));
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("wait 60 seconds"));
    await user.type(screen.getByLabelText("Subject"), " again");
    await user.click(screen.getByRole("button", { name: "Send request" }));
    await waitFor(() => expect(submit).toHaveBeenCalledTimes(2));
    expect(submit.mock.calls[0][2]).not.toBe(submit.mock.calls[1][2]);
  });
});
