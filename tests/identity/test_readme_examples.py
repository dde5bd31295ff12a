"""The grpcurl examples in services/identity/README.md work as pasted."""

from __future__ import annotations

import json
import re

from devstack import REPO_ROOT
from tests.running_services import run_readme_examples


def _documents(output: str) -> list[dict]:
    """grpcurl prints one JSON document per call; lines that are not JSON are echo output."""
    docs, depth, buf = [], 0, []
    for line in output.splitlines():
        if depth == 0 and not line.startswith("{"):
            continue
        buf.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0:
            docs.append(json.loads("\n".join(buf)))
            buf = []
    return docs


async def test_identity_readme_examples_resolve_link_get_look_up_and_erase(identity_address, conversation_address, admin_key):
    output = await run_readme_examples(REPO_ROOT / "services/identity/README.md", identity_address, conversation_address, admin_key)
    whatsapp, form, get, lookup, erased, again = _documents(output)
    customer_id = whatsapp["customer"]["customer_id"]
    assert re.search(rf"^{customer_id}$", output, re.M)  # the echoed $CUSTOMER_ID
    assert form["customer"]["customer_id"] == customer_id
    [linked] = form["linked_identifiers"]
    assert re.fullmatch(r"ada-\w+@example\.com", linked["value"])  # trimmed and case-folded
    assert get["customer"]["customer_id"] == lookup["customer"]["customer_id"] == customer_id
    assert get["customer"]["display_name"] == "Ada Lovelace"
    assert erased["erased_customer_ids"] == [customer_id] and erased["identifiers_erased"] == 2
    assert "already_erased" not in erased  # false: grpcurl leaves it out
    assert again["already_erased"] is True and again["erase_time"] == erased["erase_time"]
