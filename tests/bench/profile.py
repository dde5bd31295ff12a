"""`--profile`: py-spy flame graphs of every pipeline process while a bench phase runs.

py-spy samples a running process from outside (no code change, no restart) and writes an
inferno flame graph (SVG, open it in a browser: click to zoom, Ctrl-F to search). Only stacks
of threads on the CPU are sampled (py-spy's default), so the graph shows where CPU goes, not
where the process waits. Beside each SVG a `.top.txt` lists the functions with the most CPU
samples of their own and the most samples under them, read back from the SVG's frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from devstack import REPO_ROOT

PY_SPY = REPO_ROOT / ".venv" / "bin" / "py-spy"
RATE_HZ = 67  # samples per second per process: a few % of a core across the pipeline

_FRAME = re.compile(r'<g><title>(?P<title>[^<]*)</title><rect [^>]*?y="(?P<y>\d+)"[^>]*?'
                    r'fg:x="(?P<x>\d+)" fg:w="(?P<w>\d+)"')
_LINE = re.compile(r":\d+\)$")
_SAMPLES = re.compile(r"\s\((\d[\d,]*) samples?, [\d.]+%\)$")


@dataclass(frozen=True)
class Frame:
    name: str  # "function (file)"
    depth: int
    x: int
    samples: int


def frames(svg: str) -> list[Frame]:
    out = []
    for m in _FRAME.finditer(svg):
        title = html.unescape(m["title"])
        # "function (file:line)": the line moves as the function runs; keep function and file.
        name = _LINE.sub(")", _SAMPLES.sub("", title))
        out.append(Frame(name, int(m["y"]), int(m["x"]), int(m["w"])))
    return out


def top_functions(svg: str, n: int = 25) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(total samples, [(function, self samples)], [(function, inclusive samples)]), best
    first. A frame's self samples are its samples less its children's (the frames one row
    further from the root that lie inside it); inclusive counts a function once per stack
    even when it recurses."""
    fs = frames(svg)
    if not fs:
        return 0, [], []
    total = max(f.samples for f in fs)
    rows: dict[int, list[Frame]] = defaultdict(list)
    for f in fs:
        rows[f.depth].append(f)
    depths = sorted(rows)
    # A child sits one row further from the root ("all"), above or below it as drawn.
    step = depths[1] - depths[0] if len(depths) > 1 else 16
    root = next(f for f in fs if f.name == "all").depth
    step = step if root == depths[0] else -step
    own: dict[str, int] = defaultdict(int)
    under: dict[str, int] = defaultdict(int)
    for f in fs:
        children = sum(c.samples for c in rows.get(f.depth + step, ())
                       if f.x <= c.x < f.x + f.samples)
        own[f.name] += f.samples - children
        if f.name != "all":
            under[f.name] += f.samples
    # Recursion counts a function's samples at every level; cap inclusive at the total.
    incl = {k: min(v, total) for k, v in under.items()}
    best = lambda d: sorted(d.items(), key=lambda kv: -kv[1])[:n]
    return total, best(own), best(incl)


def summary(svg_path: Path, n: int = 25) -> str:
    total, own, incl = top_functions(svg_path.read_text(errors="replace"), n)
    if not total:
        return f"{svg_path.name}: no samples\n"
    lines = [f"{svg_path.name}: {total} samples at {RATE_HZ} Hz "
             f"(~{total / RATE_HZ:.1f} CPU-seconds)", "", "self  (CPU in the function itself)"]
    lines += [f"  {s / total:6.1%}  {name}" for name, s in own]
    lines += ["", "inclusive  (CPU in the function and everything it called)"]
    lines += [f"  {s / total:6.1%}  {name}" for name, s in incl]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def recording(pids: dict[str, int], out_dir: Path) -> AsyncIterator[list[Path]]:
    """Samples each process while the block runs (py-spy stops on SIGINT and writes its
    graph); the list it yields is filled with the SVGs written when the block ends. A process
    py-spy cannot read (not Python, gone) is skipped with its error in `<name>.err.txt`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name, pid in pids.items():
        svg = out_dir / f"{name}.svg"
        procs[name] = (svg, await asyncio.create_subprocess_exec(
            str(PY_SPY), "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--nonblocking",
            "--format", "flamegraph", "--output", str(svg), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT))
    written: list[Path] = []
    try:
        yield written
    finally:
        for _, proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
        for name, (svg, proc) in procs.items():
            out, _ = await proc.communicate()
            if svg.exists():
                svg.with_suffix(".top.txt").write_text(summary(svg))
                written.append(svg)
            else:
                (out_dir / f"{name}.err.txt").write_bytes(out)
