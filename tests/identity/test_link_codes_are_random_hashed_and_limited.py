"""The one-time code rules of verified linking (services/identity/linking.py), without I/O:
random codes, hashes that never contain the code, expiry, single use, limited attempts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.identity import linking
from services.identity.resolver import EMAIL, PHONE, Identifier

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADA = Identifier(EMAIL, "ada@example.com")


def _link(**changes) -> linking.Link:
    link = linking.new_link(uuid.uuid4(), "whatsapp", ADA, linking.hash_code("123456", n=2**10),
                            NOW, ttl_s=600, attempts=5)
    return linking.Link(**{**link.__dict__, **changes})


def test_codes_are_six_random_digits():
    codes = {linking.new_code() for _ in range(500)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 490  # random, not a counter or a constant


def test_the_hash_is_salted_slow_and_never_holds_the_code():
    first, second = linking.hash_code("123456"), linking.hash_code("123456")
    assert first != second, "a salt per hash"
    assert "123456" not in first and first.startswith("scrypt$16384$8$1$")
    assert linking.code_matches("123456", first)
    assert not linking.code_matches("123457", first)
    assert not linking.code_matches("123456", "sha256$abc")
    assert not linking.code_matches("123456", "garbage")


def test_codes_sent_back_are_cleaned_and_anything_else_refused_without_echo():
    assert linking.clean_code(" 123 456 ") == "123456"
    assert linking.clean_code("123-456") == "123456"
    for bad in ("", "12345", "123456789", "abcdef", "12345a"):
        with pytest.raises(InvalidArgument) as err:
            linking.clean_code(bad)
        assert bad not in str(err.value) or not bad


def test_a_right_code_confirms_a_live_pending_link():
    decision = linking.decide(_link(), "whatsapp", True, NOW + timedelta(minutes=9))
    assert decision.outcome == linking.RIGHT_CODE and decision.link.status == linking.CONFIRMED


def test_wrong_codes_cost_an_attempt_and_the_last_one_kills_the_link():
    link, outcomes = _link(), []
    for _ in range(5):
        decision = linking.decide(link, "whatsapp", False, NOW)
        outcomes.append((decision.outcome, decision.link.attempts_left))
        link = decision.link
    assert outcomes == [(linking.WRONG_CODE, 4), (linking.WRONG_CODE, 3), (linking.WRONG_CODE, 2),
                        (linking.WRONG_CODE, 1), (linking.EXHAUSTED, 0)]
    assert link.status == linking.EXHAUSTED
    # Dead: even the right code does nothing now.
    assert linking.decide(link, "whatsapp", True, NOW) == linking.Decision(linking.EXHAUSTED, None)


def test_expired_used_replaced_and_other_channel_codes_change_nothing():
    assert linking.decide(_link(), "whatsapp", True, NOW + timedelta(seconds=600)).outcome == linking.EXPIRED
    assert linking.decide(_link(status=linking.CONFIRMED), "whatsapp", True, NOW).outcome == linking.USED
    assert linking.decide(_link(status=linking.REPLACED), "whatsapp", True, NOW).outcome == linking.USED
    assert linking.decide(_link(), "email", True, NOW).outcome == linking.NO_PENDING_LINK
    assert linking.decide(None, "whatsapp", True, NOW).outcome == linking.NO_PENDING_LINK
    for outcome in (linking.EXPIRED, linking.USED, linking.NO_PENDING_LINK):
        assert all(d.link is None for d in [linking.Decision(outcome, None)])


def test_only_a_verified_sender_may_start_a_link():
    linking.check_may_start(claimed_sender=False)
    with pytest.raises(FailedPrecondition):
        linking.check_may_start(claimed_sender=True)


def test_a_retry_with_the_same_key_reuses_the_pending_link_only_while_it_lives():
    link = _link(request_key="msg-1")
    assert linking.reusable(link, ADA, "msg-1", NOW)
    assert not linking.reusable(link, ADA, "msg-2", NOW)
    assert not linking.reusable(link, Identifier(EMAIL, "bob@example.com"), "msg-1", NOW)
    assert not linking.reusable(link, ADA, "msg-1", NOW + timedelta(minutes=11))
    assert not linking.reusable(link, ADA, "", NOW)


def test_masks_show_little_of_an_address():
    assert linking.mask(ADA) == "a•••@example.com"
    assert linking.mask(Identifier(PHONE, "+447700900123")) == "+44•••••••123"


def test_the_code_message_names_the_first_channel_and_the_expiry():
    subject, text = linking.code_message("042917", "whatsapp", 600, "Ada")
    assert "042917" in text and "WhatsApp" in text and "10 minutes" in text
    assert "042917" not in subject
