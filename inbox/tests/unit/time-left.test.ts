import { formatDuration, timeLeft } from "../../src/time";
import { escalation, NOW } from "./fixtures";

const MIN = 60_000;

describe("formatDuration", () => {
  test.each([
    [0, "0 min"],
    [29_000, "0 min"],
    [31_000, "1 min"],
    [59 * MIN, "59 min"],
    [60 * MIN, "1 h"],
    [125 * MIN, "2 h 05 min"],
    [23 * 60 * MIN + 59 * MIN, "23 h 59 min"],
    [24 * 60 * MIN, "1 d"],
    [28 * 60 * MIN, "1 d 4 h"],
    [-5 * MIN, "0 min"],
  ])("%d ms is %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("timeLeft", () => {
  test("time left until the first reply is due", () => {
    expect(timeLeft(escalation({ reply_due_at: "2026-12-02T13:05:00Z" }), NOW)).toEqual({ text: "1 h 05 min left", urgency: "ok" });
  });

  test("due within 30 minutes is soon", () => {
    expect(timeLeft(escalation({ reply_due_at: "2026-12-02T12:20:00Z" }), NOW)).toEqual({ text: "20 min left", urgency: "soon" });
  });

  test("past the due time is breached, with how late", () => {
    expect(timeLeft(escalation({ reply_due_at: "2026-12-02T11:15:00Z" }), NOW)).toEqual({
      text: "breached · 45 min overdue",
      urgency: "breached",
    });
  });

  test("the server's breached flag wins over a clock that is behind", () => {
    expect(timeLeft(escalation({ breached: true }), NOW).urgency).toBe("breached");
  });

  test("once a person replied, in time or late", () => {
    expect(timeLeft(escalation({ first_reply_at: "2026-12-02T11:30:00Z" }), NOW)).toEqual({ text: "replied in time", urgency: "replied" });
    expect(timeLeft(escalation({ first_reply_at: "2026-12-02T13:30:00Z", breached: true }), NOW).text).toBe("replied late");
  });

  test("no due time", () => {
    expect(timeLeft(escalation({ reply_due_at: null }), NOW)).toEqual({ text: "no reply due time", urgency: "none" });
  });
});
