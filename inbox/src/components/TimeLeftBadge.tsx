import { timeLeft } from "../time";
import type { Escalation } from "../api";

export function TimeLeftBadge({ escalation, now }: { escalation: Escalation; now: number }) {
  if (escalation.state === "resolved") return <span className="badge badge-resolved">resolved</span>;
  const t = timeLeft(escalation, now);
  return (
    <span className={`badge badge-${t.urgency}`} title={escalation.reply_due_at ? `first reply due ${escalation.reply_due_at}` : undefined}>
      {t.text}
    </span>
  );
}
