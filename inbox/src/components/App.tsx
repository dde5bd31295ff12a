import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, createApi, fetchConfig, type Escalation, type InboxApi, type Me, type QueueFilters } from "../api";
import { beginSignIn, completeSignIn, redirectUri, type OidcConfig } from "../oidc";
import { EscalationView } from "./EscalationView";
import { Queue } from "./Queue";
import { SignIn } from "./SignIn";

export const CREDENTIAL_KEY = "fte-inbox-credential";
const REFRESH_MS = 15_000;

const RETURN_HASH = "fte-inbox-return-hash";

/** `#/escalations/<id>` (the link the notifier sends a team) opens one escalation. */
export function routeOf(hash: string): string | null {
  const m = /^#\/escalations?\/([0-9a-fA-F-]{36})$/.exec(hash);
  return m ? m[1] : null;
}

interface Props {
  makeApi?: (credential: string) => InboxApi;
  storage?: Storage;
  loadConfig?: () => Promise<{ oidc: OidcConfig | null; teams?: string[] }>;
}

export function App({ makeApi = (c) => createApi(c), storage = sessionStorage, loadConfig = () => fetchConfig() }: Props) {
  const [credential, setCredential] = useState<string | null>(() => storage.getItem(CREDENTIAL_KEY));
  const [me, setMe] = useState<Me | null>(null);
  const [notice, setNotice] = useState("");
  const [oidc, setOidc] = useState<OidcConfig | null>(null);
  const [knownTeams, setKnownTeams] = useState<string[]>([]);
  const [returning, setReturning] = useState(() => /[?&](code|error)=/.test(location.search));
  const api = useMemo(() => (credential ? makeApi(credential) : null), [credential, makeApi]);

  // The identity provider, if the edge names one; and the way back from it (?code=&state=).
  useEffect(() => {
    let live = true;
    void loadConfig().then(async ({ oidc: config, teams }) => {
      if (!live) return;
      setOidc(config);
      setKnownTeams(teams ?? []);
      if (!config || !/[?&](code|error)=/.test(location.search)) return setReturning(false);
      const search = location.search;
      // Back from the provider: drop the code from the address bar, restore the link followed.
      history.replaceState(null, "", `${location.pathname}${storage.getItem(RETURN_HASH) ?? ""}`);
      storage.removeItem(RETURN_HASH);
      try {
        const token = await completeSignIn(config, search, { storage });
        if (token) {
          const who = await makeApi(token).me();
          storage.setItem(CREDENTIAL_KEY, token);
          setCredential(token);
          setMe(who);
        }
      } catch (err) {
        setNotice(err instanceof ApiError && err.status === 401 ? "The company sign-in was refused by the edge." : (err as Error).message);
      } finally {
        setReturning(false);
      }
    });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const signOut = useCallback(
    (why = "") => {
      storage.removeItem(CREDENTIAL_KEY);
      setCredential(null);
      setMe(null);
      setNotice(why);
    },
    [storage],
  );

  // A stored key is checked again on load: it may have been revoked since.
  useEffect(() => {
    if (!api || me) return;
    api.me().then(setMe, (err: unknown) => signOut(err instanceof ApiError && err.status === 401 ? "Your session ended; sign in again." : (err as Error).message));
  }, [api, me, signOut]);

  if (returning) return <p role="status">Finishing the sign-in…</p>;
  if (!api || !credential) {
    return (
      <SignIn
        key={notice}
        notice={notice}
        onCompanySignIn={
          oidc
            ? async () => {
                storage.setItem(RETURN_HASH, location.hash);
                location.assign(await beginSignIn(oidc, redirectUri(location), { storage }));
              }
            : undefined
        }
        check={(c) => makeApi(c).me()}
        onSignedIn={(c, who) => {
          storage.setItem(CREDENTIAL_KEY, c);
          setCredential(c);
          setMe(who);
          setNotice("");
        }}
      />
    );
  }
  if (!me) return <p role="status">Checking your key…</p>;
  return <Inbox api={api} me={me} knownTeams={knownTeams} onSignOut={() => signOut()} onUnauthenticated={() => signOut("Your session ended; sign in again.")} />;
}

interface InboxProps {
  api: InboxApi;
  me: Me;
  /** Every team escalations are routed to (the edge's configuration). */
  knownTeams: string[];
  onSignOut: () => void;
  onUnauthenticated: () => void;
}

function Inbox({ api, me, knownTeams, onSignOut, onUnauthenticated }: InboxProps) {
  const [selected, setSelected] = useState<string | null>(() => routeOf(location.hash));
  const [filters, setFilters] = useState<QueueFilters>({ states: [], team: "", reason: "" });
  const [escalations, setEscalations] = useState<Escalation[]>([]);
  const [nextToken, setNextToken] = useState("");
  const [teams, setTeams] = useState<string[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState("");
  const [now, setNow] = useState(() => Date.now());
  const seq = useRef(0);

  const load = useCallback(
    async (more = false) => {
      const mine = ++seq.current;
      setLoading(true);
      try {
        const page = await api.list(filters, more ? nextToken : "");
        if (mine !== seq.current) return;
        setEscalations((prev) => (more ? [...prev, ...page.escalations] : page.escalations));
        setNextToken(page.next_page_token);
        setTeams((prev) => [...new Set([...prev, ...page.escalations.map((e) => e.team).filter(Boolean)])].sort());
        setError("");
      } catch (err) {
        if (mine !== seq.current) return;
        if (err instanceof ApiError && err.status === 401) return onUnauthenticated();
        setError((err as Error).message);
      } finally {
        if (mine === seq.current) setLoading(false);
      }
    },
    [api, filters, nextToken, onUnauthenticated],
  );

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, filters]);

  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 30_000);
    const onHash = () => setSelected(routeOf(location.hash));
    window.addEventListener("hashchange", onHash);
    return () => {
      clearInterval(tick);
      window.removeEventListener("hashchange", onHash);
    };
  }, []);

  // Back from an escalation: focus the queue's heading, once the queue is shown again.
  const previous = useRef(selected);
  useEffect(() => {
    if (previous.current && !selected) document.getElementById("queue-title")?.focus();
    previous.current = selected;
  }, [selected]);

  return (
    <div className={`layout${selected ? " has-selection" : ""}`}>
      <a
        className="skip"
        href="#main-pane"
        onClick={(e) => {
          // Not a route: move focus without touching the hash (which names the open escalation).
          e.preventDefault();
          document.getElementById("main-pane")?.focus();
        }}
      >
        Skip to {selected ? "the escalation" : "the queue"}
      </a>
      <header className="top">
        <h1>Support inbox</h1>
        <p className="me">
          {me.display_name} <span className="role">({me.role})</span>
        </p>
        <button type="button" className="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <div className="panes">
        <div className="pane queue-pane" id={selected ? undefined : "main-pane"} tabIndex={-1}>
          <Queue
            escalations={escalations}
            filters={filters}
            onFilters={setFilters}
            teams={[...new Set([...knownTeams, ...teams])].sort()}
            selectedId={selected}
            now={now}
            loading={loading}
            error={error}
            onRefresh={() => void load()}
            hasMore={nextToken !== ""}
            onMore={() => void load(true)}
          />
        </div>
        <main className="pane detail-pane" id={selected ? "main-pane" : undefined} tabIndex={-1}>
          {selected ? (
            <EscalationView api={api} me={me} escalationId={selected} now={now} onChanged={() => void load()} />
          ) : (
            <p className="empty">Choose an escalation from the queue.</p>
          )}
        </main>
      </div>
    </div>
  );
}
