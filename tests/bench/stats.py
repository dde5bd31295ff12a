"""Percentiles, process CPU readings and the printed table — shared by every bench phase."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections.abc import Sequence

from tests.observability.scrape import scrape

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_STARTED = time.monotonic()


def progress(phase: str, text: str) -> None:
    """One progress line, prefixed with the bench's elapsed time, flushed at once."""
    elapsed = time.monotonic() - _STARTED
    sys.stdout.write(f"[{elapsed:6.1f}s] {phase:<8} {text}\n")
    sys.stdout.flush()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (not its children) has used so far; NaN if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return math.nan
    # After the ")" that ends comm: state is field 0, utime field 11, stime field 12.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def fmt(value: float, unit: str = "", digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}{unit}"


def ms(seconds: float) -> str:
    return fmt(seconds * 1000, " ms", 1 if seconds < 0.1 else 0)


def table(rows: Sequence[Sequence[str]], out=None) -> None:
    """A plain left-aligned table; the first row is the header, underlined."""
    out = out or sys.stdout
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    line = lambda row: "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
    out.write(line(rows[0]) + "\n")
    out.write("  " + "  ".join("-" * w for w in widths) + "\n")
    for row in rows[1:]:
        out.write(line(row) + "\n")
    out.flush()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and int(fields[1]) == pid:  # field 1 after comm: ppid
                out.append(int(entry))
    return out


def postgres_cpu_seconds(postmaster: int) -> float:
    """The whole server: the postmaster, its live backends, and (cutime/cstime) the ones it
    has already reaped."""
    fields = _stat_fields(postmaster)
    if fields is None:
        return math.nan
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _CLOCK_TICKS
    return total + sum(c for c in map(cpu_seconds, _children(postmaster)) if not math.isnan(c))


def box_busy_seconds() -> float:
    """CPU-seconds the whole machine (every core, every process) spent not idle."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _CLOCK_TICKS


class CpuMeter:
    """CPU-seconds of named processes (plus PostgreSQL and the whole box) between readings,
    and the gRPC calls the processes serving /metrics at `metrics` answered meanwhile."""

    def __init__(self, pids: dict[str, int], postmaster: int | None = None,
                 metrics: Sequence[str] = ()) -> None:
        self.pids = pids
        self.postmaster = postmaster
        self.metrics = metrics

    async def rpc_calls(self) -> dict[str, float]:
        """Calls answered so far, by "Service/Method" summed over the processes, from each
        one's `fte_rpc_server_duration_seconds_count` (health checks and reflection left out)."""
        calls: dict[str, float] = {}
        for scraped in await asyncio.gather(*(scrape(a) for a in self.metrics)):
            for sample in scraped.samples("fte_rpc_server_duration_seconds_count"):
                service = sample.labels["service"]
                if service.startswith("grpc."):
                    continue
                name = f"{service.rpartition('.')[2]}/{sample.labels['method']}"
                calls[name] = calls.get(name, 0.0) + sample.value
        return calls

    def python_pids(self) -> dict[str, int]:
        """The pipeline's own (Python) processes: not Kafka's JVM, not PostgreSQL."""
        return {name: pid for name, pid in self.pids.items() if name != "kafka"}

    def reading(self) -> dict[str, float]:
        r = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        if self.postmaster:
            r["postgres"] = postgres_cpu_seconds(self.postmaster)
        r["box"] = box_busy_seconds()
        r["wall"] = time.monotonic()
        return r

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in before}

    @staticmethod
    def calls_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """Calls made between two `rpc_calls` readings, methods first called meanwhile included."""
        return {k: n - before.get(k, 0.0) for k, n in after.items()}
