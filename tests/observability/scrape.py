"""Reading a process's /metrics the way Prometheus does: the exposition text parsed by
prometheus_client's own parser, then samples picked by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    families: dict[str, object]  # family name → prometheus_client Metric

    def samples(self, name: str, **labels: str) -> list:
        """Samples named `name` (e.g. `fte_messages_total`) whose labels include `labels`."""
        return [s for f in self.families.values() for s in f.samples
                if s.name == name and labels.items() <= s.labels.items()]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the matching samples (0 when none match)."""
        return sum(s.value for s in self.samples(name, **labels))

    def has(self, name: str, **labels: str) -> bool:
        return bool(self.samples(name, **labels))


def parse(text: str) -> Scrape:
    return Scrape({f.name: f for f in text_string_to_metric_families(text)})


async def scrape(address: str) -> Scrape:
    """GET http://<address>/metrics, parsed."""
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await client.get(f"http://{address}/metrics")
    reply.raise_for_status()
    return parse(reply.text)
