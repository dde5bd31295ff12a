"""The company facts that fixed replies state (services/common/company.toml) are the product
facts (shared/product/FACTS.md): each fact word for word, each name made of the facts' own
words, so a handover, signature or sender name never states something the facts do not."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields

import pytest

from services.common import company


@pytest.fixture(scope="module")
def data() -> dict:
    with company.COMPANY_FILE.open("rb") as f:
        return tomllib.load(f)


def test_every_fact_is_stated_word_for_word_in_the_facts(facts, data):
    missing = [f"{key} = {value!r}" for key, value in data["facts"].items() if value not in facts]
    assert not missing, "not in FACTS.md:\n" + "\n".join(missing)


def test_every_name_is_made_of_words_the_facts_use(facts, data):
    vocabulary = set(re.findall(r"[\w'-]+", facts))
    unknown = [
        f"{key}: {word}"
        for key, value in data["names"].items()
        for word in re.findall(r"[\w'-]+", value)
        if word not in vocabulary
    ]
    assert not unknown, "words FACTS.md does not use:\n" + "\n".join(unknown)


def test_the_file_holds_exactly_what_the_services_read(data):
    in_file = {**data["facts"], **data["names"]}
    assert set(data) == {"facts", "names"}
    assert set(in_file) == {f.name for f in fields(company.Company)}
    assert company.load() == company.COMPANY == company.Company(**in_file)


def test_the_fixed_replies_state_the_facts_of_the_file():
    from fte.conversation.v1 import conversation_service_pb2 as conv_pb

    from services.agent import handover
    from services.common import formatting

    by_reason = {
        conv_pb.ESCALATION_REASON_PRICING: company.COMPANY.sales_email,
        conv_pb.ESCALATION_REASON_REFUND: company.COMPANY.billing_email,
        conv_pb.ESCALATION_REASON_LEGAL: company.COMPANY.legal_email,
    }
    for reason, address in by_reason.items():
        text = handover.message(reason)
        assert f"({address})" in text
        assert text.endswith(f"within {company.COMPANY.escalation_first_reply}.")
    reply = formatting.format_email("Body.", "Ada", "")
    assert reply.parts[-1].endswith(company.COMPANY.support_name)
