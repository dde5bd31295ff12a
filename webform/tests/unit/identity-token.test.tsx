// The host page vouches for its signed-in user with data-identity-token: the embed passes it to
// the form, every submission carries it as identity_token, and a refusal of it is shown plainly.
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { IDENTITY_REFUSED, submitRequest, type SubmitOutcome } from "../../src/api";
import { App } from "../../src/components/App";
import type { SubmitFn } from "../../src/components/SupportForm";
import type { MountOptions } from "../../src/mount";

const TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const ACCEPTED: SubmitOutcome = {
  kind: "accepted",
  ticket: { ticket_id: "6f1c0d8e-1111-4222-8333-444455556666", message: "Thank you.", expected_response_time: "soon" },
};

async function fillAndSend() {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("Your name"), "Ada");
  await user.type(screen.getByLabelText("Email"), "ada@example.com");
  await user.selectOptions(screen.getByLabelText("Category"), "billing");
  await user.type(screen.getByLabelText("Subject"), "Invoice question");
  await user.type(screen.getByLabelText("How can we help?"), "Where do I find my invoices?");
  await user.click(screen.getByRole("button", { name: "Send request" }));
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.doUnmock("../../src/mount");
  vi.resetModules();
  document.body.innerHTML = "";
});

describe("identity token", () => {
  it("the embed reads data-identity-token and hands it to the form", async () => {
    const mountSpy = vi.fn();
    vi.resetModules();
    vi.doMock("../../src/mount", () => ({ mount: mountSpy }));
    const script = document.createElement("script");
    script.src = "https://support.example.com/webform/embed.js";
    script.dataset.identityToken = ` ${TOKEN} `;
    document.body.appendChild(script);

    await import("../../src/embed");

    expect(mountSpy).toHaveBeenCalledTimes(1);
    const options = mountSpy.mock.calls[0][1] as MountOptions;
    expect(options.identityToken).toBe(TOKEN);
  });

  it("the embed without the attribute sends no token", async () => {
    const mountSpy = vi.fn();
    vi.resetModules();
    vi.doMock("../../src/mount", () => ({ mount: mountSpy }));
    const script = document.createElement("script");
    script.src = "https://support.example.com/webform/embed.js";
    document.body.appendChild(script);

    await import("../../src/embed");

    expect((mountSpy.mock.calls[0][1] as MountOptions).identityToken).toBeUndefined();
  });

  it("every submission carries the token as identity_token", async () => {
    const submit = vi.fn<SubmitFn>().mockResolvedValue(ACCEPTED);
    render(<App api="http://edge.test" mode="embed" statusPageUrl={(id) => id} submit={submit} identityToken={TOKEN} />);

    await fillAndSend();

    await waitFor(() => expect(submit).toHaveBeenCalledTimes(1));
    const payload = submit.mock.calls[0][1];
    expect(payload.identity_token).toBe(TOKEN);
    expect(payload.email).toBe("ada@example.com");
  });

  it("without a token the payload has no identity_token", async () => {
    const submit = vi.fn<SubmitFn>().mockResolvedValue(ACCEPTED);
    render(<App api="http://edge.test" mode="embed" statusPageUrl={(id) => id} submit={submit} />);

    await fillAndSend();

    await waitFor(() => expect(submit).toHaveBeenCalledTimes(1));
    expect("identity_token" in submit.mock.calls[0][1]).toBe(false);
  });

  it("api.ts sends the token in the JSON body", async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify(ACCEPTED.kind === "accepted" ? ACCEPTED.ticket : {}), { status: 202 }));
    vi.stubGlobal("fetch", fetchMock);

    await submitRequest("http://edge.test", { email: "ada@example.com", identity_token: TOKEN }, "key-1");

    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("http://edge.test/support/submit");
    expect(JSON.parse(init.body as string).identity_token).toBe(TOKEN);
  });

  it("a refused token (403 naming identity_token) is a plain form error, not a crash", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response(JSON.stringify({ detail: "identity_token: not valid for this email" }), { status: 403 })),
    );
    render(<App api="http://edge.test" mode="embed" statusPageUrl={(id) => id} identityToken={TOKEN} />);

    await fillAndSend();

    expect(await screen.findByText(IDENTITY_REFUSED)).toBeInTheDocument();
  });
});
