// One <script src=".../webform/embed.js" data-api="https://..."> renders the support form
// where the tag stands (or into data-target), inside a Shadow DOM.
//   data-api     edge base URL; default: the origin embed.js was loaded from
//   data-target  CSS selector of an element to render into; default: right after the tag
//   data-mode    "embed" (default) or "page" (the standalone page with the ticket view)
//   data-identity-token  optional: the host page's token for its signed-in user, the hex
//                HMAC-SHA256 of their email (trimmed, lower-cased) under the site's secret;
//                it makes the email proven instead of claimed
import { mount, type MountOptions, type Mounted } from "./mount";

const HOST_TAG = "flowboard-support";

declare global {
  interface Window {
    FlowboardSupport?: { mount: (host: HTMLElement, options: MountOptions) => Mounted; version: string };
  }
}

function findScript(): HTMLScriptElement | null {
  const current = document.currentScript;
  if (current instanceof HTMLScriptElement) return current;
  const candidates = document.querySelectorAll<HTMLScriptElement>('script[src*="embed.js"]:not([data-flowboard-mounted])');
  return candidates[0] ?? null;
}

function boot(script: HTMLScriptElement): void {
  script.setAttribute("data-flowboard-mounted", "");
  const scriptUrl = new URL(script.src, document.baseURI);
  const api = script.dataset.api?.trim() || scriptUrl.origin;
  const mode = script.dataset.mode === "page" ? "page" : "embed";
  const statusPage = new URL("index.html", scriptUrl);

  const place = () => {
    const target = script.dataset.target ? document.querySelector<HTMLElement>(script.dataset.target) : null;
    const host = document.createElement(HOST_TAG);
    if (target) target.appendChild(host);
    else if (script.parentElement && script.parentElement !== document.head) script.after(host);
    else document.body.appendChild(host);
    mount(host, {
      api,
      mode,
      statusPageUrl: (id) => `${statusPage.href}#/ticket/${encodeURIComponent(id)}`,
      identityToken: script.dataset.identityToken?.trim() || undefined,
    });
  };

  const needsDom = (script.dataset.target && !document.querySelector(script.dataset.target)) || !document.body;
  if (needsDom && document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", place, { once: true });
  } else {
    place();
  }
}

window.FlowboardSupport = { mount, version: "1.0.0" };
const script = findScript();
if (script && !script.hasAttribute("data-flowboard-mounted") && script.dataset.autoMount !== "false") {
  boot(script);
}
