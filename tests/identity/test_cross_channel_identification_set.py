"""The cross-channel identification set (identification_set.jsonl, from
generate_identification_set.py): every sender resolved over real gRPC, in arrival order.
All rows of one person must land on one customer (100% linked) and no customer may hold two
people (0 wrong merges), look-alikes included."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from fte.identity.v1 import identity_service_pb2 as pb

from services.common import channels
from tests.identity.generate_identification_set import SEED, Generator

DATA = Path(__file__).with_name("identification_set.jsonl")


def _rows() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def test_the_committed_set_is_what_the_seeded_generator_produces():
    assert _rows() == Generator(SEED).build(), "regenerate: generate_identification_set.py"


def test_the_set_covers_every_channel_variants_and_look_alikes():
    rows = _rows()
    assert len(rows) >= 200
    assert set(Counter(r["channel"] for r in rows)) == set(channels.BY_NAME)
    assert any(r["action"] == "link" for r in rows)
    look_alikes = " ".join({r["look_alike"] for r in rows})
    for kind in ("same name", "email one character", "+", "phone one digit", "same national number"):
        assert kind in look_alikes


async def _resolve_row(identity, row: dict) -> str:
    if row["action"] == "link":
        # Staff add a phone the customer gave on a call to the customer found by email.
        owner = await identity.LookupCustomer(pb.LookupCustomerRequest(email=row["email"]))
        await identity.LinkIdentifier(pb.LinkIdentifierRequest(
            customer_id=owner.customer.customer_id, type=pb.IDENTIFIER_TYPE_PHONE,
            value=row["phone"], default_region=row["default_region"],
        ))
        return owner.customer.customer_id
    reply = await identity.ResolveCustomer(pb.ResolveCustomerRequest(
        channel=channels.BY_NAME[row["channel"]], email=row["email"], phone=row["phone"],
        whatsapp=row["whatsapp"], display_name=row["display_name"],
        default_region=row["default_region"],
    ))
    return reply.customer.customer_id


async def test_every_sender_is_linked_to_its_person_and_no_two_people_merge(identity):
    rows = _rows()
    customers_of_person: dict[str, set[str]] = defaultdict(set)
    people_of_customer: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        customer_id = await _resolve_row(identity, row)
        customers_of_person[row["person"]].add(customer_id)
        people_of_customer[customer_id].add(row["person"])

    split = {p: c for p, c in customers_of_person.items() if len(c) != 1}
    wrong_merges = {c: p for c, p in people_of_customer.items() if len(p) != 1}
    linked = len(customers_of_person) - len(split)
    assert not split, f"{linked}/{len(customers_of_person)} people linked; split: {split}"
    assert not wrong_merges, f"customers holding several people: {wrong_merges}"
    assert len(people_of_customer) == len(customers_of_person)
