import { createRoot, type Root } from "react-dom/client";
import css from "./styles.css?inline";
import { App, type Mode } from "./components/App";

export interface MountOptions {
  /** Base URL of the edge API, e.g. "https://support.example.com". */
  api: string;
  mode?: Mode;
  /** URL of the standalone ticket status page for a ticket id. */
  statusPageUrl?: (ticketId: string) => string;
  /** The host page's identity token for its signed-in user (hex HMAC-SHA256 of their email),
   * sent with every submission so the edge can treat the email as proven, not claimed. */
  identityToken?: string;
}

export interface Mounted {
  shadowRoot: ShadowRoot;
  unmount(): void;
}

let sheet: CSSStyleSheet | null = null;

/** Styles go into the shadow root only: nothing reaches the host page, nothing of the host's reaches in. */
function adoptStyles(shadow: ShadowRoot): void {
  try {
    // Constructed sheets also work under a host CSP that forbids inline <style>.
    sheet ??= new CSSStyleSheet();
    if (sheet.cssRules.length === 0) sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet];
  } catch {
    const style = document.createElement("style");
    style.textContent = css;
    shadow.appendChild(style);
  }
}

export function mount(host: HTMLElement, options: MountOptions): Mounted {
  const shadow = host.shadowRoot ?? host.attachShadow({ mode: "open" });
  adoptStyles(shadow);
  const container = document.createElement("div");
  container.className = "fb-container";
  shadow.appendChild(container);
  const api = options.api.replace(/\/+$/, "");
  const statusPageUrl =
    options.statusPageUrl ?? ((id: string) => `${api}/webform/index.html#/ticket/${encodeURIComponent(id)}`);
  const root: Root = createRoot(container);
  root.render(
    <App api={api} mode={options.mode ?? "embed"} statusPageUrl={statusPageUrl} identityToken={options.identityToken} />,
  );
  return {
    shadowRoot: shadow,
    unmount() {
      root.unmount();
      container.remove();
    },
  };
}
