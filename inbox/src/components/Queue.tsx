import { REASONS, type Escalation, type QueueFilters, type State } from "../api";
import { label } from "../time";
import { TimeLeftBadge } from "./TimeLeftBadge";

interface Props {
  escalations: Escalation[];
  filters: QueueFilters;
  onFilters: (f: QueueFilters) => void;
  /** Every team seen so far (the filter's choices). */
  teams: string[];
  selectedId: string | null;
  now: number;
  loading: boolean;
  error: string;
  onRefresh: () => void;
  hasMore: boolean;
  onMore: () => void;
}

const STATE_CHOICES: { value: string; text: string; states: State[] }[] = [
  { value: "active", text: "Open and claimed", states: [] },
  { value: "open", text: "Open", states: ["open"] },
  { value: "claimed", text: "Claimed", states: ["claimed"] },
  { value: "resolved", text: "Resolved", states: ["resolved"] },
];

/** Groups the queue by team, keeping the API's order (oldest first) inside each team. */
export function byTeam(escalations: Escalation[]): [string, Escalation[]][] {
  const groups = new Map<string, Escalation[]>();
  for (const e of escalations) {
    const team = e.team || "unassigned";
    groups.set(team, [...(groups.get(team) ?? []), e]);
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

export function Queue(props: Props) {
  const { escalations, filters, onFilters, teams, selectedId, now, loading, error } = props;
  const stateValue = STATE_CHOICES.find((c) => c.states.join() === filters.states.join())?.value ?? "active";
  const groups = byTeam(escalations);

  return (
    <section className="queue" aria-labelledby="queue-title">
      <div className="queue-head">
        <h2 id="queue-title" tabIndex={-1}>
          Queue
        </h2>
        <button type="button" className="secondary" onClick={props.onRefresh} disabled={loading}>
          {loading ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      <form className="filters" aria-label="Filter the queue" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="filter-state">State</label>
          <select
            id="filter-state"
            value={stateValue}
            onChange={(e) => onFilters({ ...filters, states: STATE_CHOICES.find((c) => c.value === e.target.value)!.states })}
          >
            {STATE_CHOICES.map((c) => (
              <option key={c.value} value={c.value}>
                {c.text}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-team">Team</label>
          <select id="filter-team" value={filters.team} onChange={(e) => onFilters({ ...filters, team: e.target.value })}>
            <option value="">Every team</option>
            {teams.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-reason">Reason</label>
          <select
            id="filter-reason"
            value={filters.reason}
            onChange={(e) => onFilters({ ...filters, reason: e.target.value as QueueFilters["reason"] })}
          >
            <option value="">Every reason</option>
            {REASONS.map((r) => (
              <option key={r} value={r}>
                {label(r)}
              </option>
            ))}
          </select>
        </div>
      </form>
      <p className="sr-only" role="status" aria-live="polite">
        {loading ? "Loading the queue" : `${escalations.length} escalations`}
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!loading && !error && escalations.length === 0 && <p className="empty">Nothing waiting. Well done.</p>}
      {groups.map(([team, items]) => (
        <section key={team} className="team" aria-labelledby={`team-${team}`}>
          <h3 id={`team-${team}`}>
            {team} <span className="count">({items.length})</span>
          </h3>
          <ul className="items">
            {items.map((e) => (
              <li key={e.escalation_id}>
                <a
                  className={`item${e.escalation_id === selectedId ? " selected" : ""}`}
                  href={`#/escalations/${e.escalation_id}`}
                  aria-current={e.escalation_id === selectedId ? "true" : undefined}
                  data-escalation-id={e.escalation_id}
                >
                  <span className="item-top">
                    <span className="who">{e.customer_name || "Unnamed customer"}</span>
                    <TimeLeftBadge escalation={e} now={now} />
                  </span>
                  <span className="subject">{e.subject || "(no subject)"}</span>
                  <span className="meta">
                    {label(e.reason)} · {label(e.channel)} · {label(e.state)}
                    {e.owner ? ` by ${e.owner.display_name}` : ""}
                  </span>
                </a>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {props.hasMore && (
        <button type="button" className="secondary" onClick={props.onMore} disabled={loading}>
          Load more
        </button>
      )}
    </section>
  );
}
