"""The monitoring component (k8s/components/monitoring) as the tests see it: the PrometheusRule's
rules file, the Grafana dashboard's queries, promtool, and the metric names a query may use.

One source for the rules: the PrometheusRule's `spec` *is* a Prometheus rules file (groups);
`write_rules` puts it in a file for promtool. The dashboard's queries are checked the same way:
each becomes a recording rule of a throwaway rules file, which `promtool check rules` parses.
"""

from __future__ import annotations

import builtins
import functools
import json
import re
import subprocess
import types
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "k8s" / "components" / "monitoring"
PROMETHEUS_RULE = COMPONENT / "prometheusrule.yaml"
DASHBOARD = COMPONENT / "dashboards" / "flowboard.json"
ALERT_TESTS = Path(__file__).with_name("alerts_test.yaml")
RUNBOOK = ROOT / "docs" / "runbook.md"
CATALOGUE = ROOT / "services" / "common" / "metrics.py"
PROMTOOL = ROOT / ".cache" / "bin" / "promtool"
DASHCHECK = ROOT / ".cache" / "bin" / "dashcheck"  # deploy/grafana/dashcheck
RULES_FILE_NAME = "flowboard-alerts.rules.yaml"  # the name alerts_test.yaml's rule_files gives

# Metrics the queries may use that are not in the catalogue (services/common/metrics.py):
# prometheus-fastapi-instrumentator's at the edge, kube-state-metrics' (every kube_*).
EXTERNAL_METRICS = {
    "http_requests_total", "http_request_duration_seconds_bucket", "http_request_duration_seconds_count",
    "http_request_duration_seconds_sum",
}
EXTERNAL_PREFIXES = ("kube_",)

# Sample names each metric type exposes (prometheus-client, text format).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "unknown": ("",),
}


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if not PROMTOOL.exists():
        raise RuntimeError(f"{PROMTOOL} is missing: `make {PROMTOOL.relative_to(ROOT)}` builds it")
    return subprocess.run([str(PROMTOOL), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def dashcheck(path: Path) -> subprocess.CompletedProcess[str]:
    """Grafana's dashboard schema (the Foundation SDK's strict decoder) on a dashboard file."""
    if not DASHCHECK.exists():
        raise RuntimeError(f"{DASHCHECK} is missing: `make {DASHCHECK.relative_to(ROOT)}` builds it")
    return subprocess.run([str(DASHCHECK), str(path)], capture_output=True, text=True, timeout=60)


def prometheus_rule() -> dict:
    return yaml.safe_load(PROMETHEUS_RULE.read_text())


def rules_spec() -> dict:
    """The PrometheusRule's spec: a rules file ({groups: [...]})."""
    return prometheus_rule()["spec"]


def alerts(spec: dict | None = None) -> list[dict]:
    spec = rules_spec() if spec is None else spec
    return [r for g in spec["groups"] for r in g["rules"] if "alert" in r]


def write_rules(directory: Path, spec: dict | None = None) -> Path:
    path = directory / RULES_FILE_NAME
    path.write_text(yaml.safe_dump(rules_spec() if spec is None else spec, sort_keys=False))
    return path


def write_alert_tests(directory: Path) -> Path:
    """alerts_test.yaml next to the rules file it names (promtool resolves rule_files from it)."""
    path = directory / ALERT_TESTS.name
    path.write_text(ALERT_TESTS.read_text())
    return path


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(board: dict) -> list[dict]:
    """Every panel, the ones inside collapsed rows too."""
    out = []
    for p in board.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def panel_queries(board: dict) -> list[tuple[str, str]]:
    """(where, expr) of every Prometheus query of every panel."""
    return [(f"panel {p.get('id')} {p.get('title')!r} {t.get('refId', '')}", t["expr"])
            for p in panels(board) for t in p.get("targets", []) if t.get("expr")]


# Grafana's variables, replaced by something PromQL parses: ranges by a duration, others (used in
# label matchers, "$channel") by a regex matching anything.
def without_grafana_variables(expr: str) -> str:
    expr = re.sub(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}", "5m", expr)
    return re.sub(r"\$\{\w+(:\w+)?\}|\$\w+", ".*", expr)


def write_recording_rules(directory: Path, queries: list[tuple[str, str]]) -> Path:
    """Each query as a recording rule of one group: `promtool check rules` parses every one."""
    rules = [{"record": f"dashboard:query_{i}", "expr": without_grafana_variables(expr)}
             for i, (_, expr) in enumerate(queries)]
    path = directory / "dashboard-queries.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False))
    return path


_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
             "unless", "inf", "nan", "atan2", "start", "end",
             # aggregations, which `by (...)` may separate from their parenthesis
             "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
             "topk", "quantile", "limitk", "limit_ratio"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (an approximation good for our queries:
    strings, label matchers, ranges and grouping clauses removed, then every identifier not
    called as a function and not a keyword)."""
    expr = without_grafana_variables(expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)                            # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                           # ranges, subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", expr)
    expr = re.sub(r"\boffset\s+-?\w+", "", expr)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        name, called = m.group(1), m.group(2)
        if called or name.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def catalogue_families() -> dict[str, str]:
    """The catalogue's metric families (services/common/metrics.py), name → type, read from a
    registry of their own: the module runs with prometheus-client's metric classes bound to a fresh
    CollectorRegistry. Importing it into the default registry instead would make the answer depend
    on what else the test session imported (a service module registering its own metrics, or the
    same name: DuplicateTimeseries)."""
    import prometheus_client

    registry = prometheus_client.CollectorRegistry()
    shim = types.ModuleType("prometheus_client")
    shim.__dict__.update({k: v for k, v in vars(prometheus_client).items() if not k.startswith("__")})
    for name in ("Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"):
        setattr(shim, name, functools.partial(getattr(prometheus_client, name), registry=registry))

    def _import(name, *args, **kwargs):
        return shim if name == "prometheus_client" else builtins.__import__(name, *args, **kwargs)

    code = compile(CATALOGUE.read_text(), str(CATALOGUE), "exec")
    exec(code, {"__name__": "catalogue", "__builtins__": {**vars(builtins), "__import__": _import}})
    return {family.name: family.type for family in registry.collect()}


def catalogue_sample_names() -> set[str]:
    """Every sample name the catalogue's metrics expose, by type (a counter `x`: `x_total`; a
    histogram: `x_bucket`, `x_count`, `x_sum`; a gauge: `x`)."""
    return {name + suffix for name, kind in catalogue_families().items()
            for suffix in _SUFFIXES.get(kind, ("",))}


def unknown_metrics(names: set[str], known: set[str]) -> set[str]:
    return {n for n in names if n not in known and n not in EXTERNAL_METRICS
            and not n.startswith(EXTERNAL_PREFIXES)}
