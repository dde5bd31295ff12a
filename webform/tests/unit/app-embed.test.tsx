import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SubmitOutcome } from "../../src/api";
import { App } from "../../src/components/App";
import type { SubmitFn } from "../../src/components/SupportForm";

const ID = "6f1c0d8e-1111-4222-8333-444455556666";
const ACCEPTED: SubmitOutcome = {
  kind: "accepted",
  ticket: { ticket_id: ID, message: "Thank you, Ada. We received your request.", expected_response_time: "within 5 minutes" },
};

function stubTicketFetch(status = "received") {
  const fetchMock = vi.fn(async (_url: string) =>
    new Response(JSON.stringify({ ticket_id: ID, status, subject: "", messages: [] }), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    }),
  );
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

async function submitValidForm() {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("Your name"), "Ada");
  await user.type(screen.getByLabelText("Email"), "ada@example.com");
  await user.selectOptions(screen.getByLabelText("Category"), "billing");
  await user.type(screen.getByLabelText("Subject"), "Invoice question");
  await user.type(screen.getByLabelText("How can we help?"), "Where do I find my invoices?");
  await user.click(screen.getByRole("button", { name: "Send request" }));
  return user;
}

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = "";
});

describe("standalone page", () => {
  it("shows the ticket id on success and links to the ticket status view", async () => {
    const fetchMock = stubTicketFetch("processing");
    const submit = vi.fn<SubmitFn>().mockResolvedValue(ACCEPTED);
    render(<App api="http://edge.test" mode="page" statusPageUrl={(id) => `http://edge.test/webform/index.html#/ticket/${id}`} submit={submit} />);
    const user = await submitValidForm();

    await screen.findByRole("heading", { name: "Request received" });
    expect(screen.getByRole("heading", { name: "Request received" })).toHaveFocus();
    expect(screen.getByTestId("ticket-id")).toHaveTextContent(ID);
    expect(screen.getByText("within 5 minutes")).toBeInTheDocument();
    const link = screen.getByRole("link", { name: "View ticket status" });
    expect(link).toHaveAttribute("href", `#/ticket/${ID}`);
    expect(link).not.toHaveAttribute("target");

    await user.click(link);
    await waitFor(() => expect(screen.getByTestId("ticket-status")).toHaveTextContent("Processing"));
    expect(fetchMock.mock.calls[0][0]).toBe(`http://edge.test/support/ticket/${ID}`);
  });

  it("opens the ticket view straight from a #/ticket/<id> link", async () => {
    stubTicketFetch("received");
    window.location.hash = `#/ticket/${ID}`;
    render(<App api="http://edge.test" mode="page" statusPageUrl={() => ""} />);
    await waitFor(() => expect(screen.getByTestId("ticket-status")).toHaveTextContent("Received"));
    expect(screen.getByText(ID)).toBeInTheDocument();
  });
});

describe("embedded", () => {
  it("links to the edge's status page in a new tab and follows the ticket inline", async () => {
    stubTicketFetch("received");
    const submit = vi.fn<SubmitFn>().mockResolvedValue(ACCEPTED);
    render(<App api="http://edge.test" mode="embed" statusPageUrl={(id) => `http://edge.test/webform/index.html#/ticket/${id}`} submit={submit} />);
    await submitValidForm();
    const link = await screen.findByRole("link", { name: /View ticket status/ });
    expect(link).toHaveAttribute("href", `http://edge.test/webform/index.html#/ticket/${ID}`);
    expect(link).toHaveAttribute("target", "_blank");
    await waitFor(() => expect(screen.getByTestId("ticket-status")).toHaveTextContent("Received"));
  });

  it("one script tag renders the form in a shadow root after the tag, leaving the host's styles alone", async () => {
    const section = document.createElement("section");
    const script = document.createElement("script");
    script.src = "https://support.example.com/webform/embed.js";
    script.dataset.api = "https://api.example.com/";
    section.appendChild(script);
    document.body.appendChild(section);
    const headBefore = document.head.innerHTML;

    await act(async () => {
      await import("../../src/embed");
    });

    const host = script.nextElementSibling as HTMLElement;
    expect(host.tagName.toLowerCase()).toBe("flowboard-support");
    const shadow = host.shadowRoot!;
    expect(shadow).not.toBeNull();
    await waitFor(() => expect(shadow.querySelector("form")).not.toBeNull());
    expect(shadow.querySelector('input[name="email"]')).not.toBeNull();
    const styled = shadow.adoptedStyleSheets?.length > 0 || shadow.querySelector("style") !== null;
    expect(styled).toBe(true);
    expect(document.head.innerHTML).toBe(headBefore);
    expect(document.querySelectorAll("style")).toHaveLength(0);
    expect(script.hasAttribute("data-flowboard-mounted")).toBe(true);
    expect(window.FlowboardSupport?.mount).toBeTypeOf("function");
    section.remove();
  });
});
