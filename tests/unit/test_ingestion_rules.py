"""Ingestion's rules: network prefix only, coarse user agent, validation reasons."""

from __future__ import annotations

import datetime as dt

import pytest

from services.ingestion.domain import InteractionIn, network_prefix, user_agent_family, validate
from shared.errors import InvalidArgument

NOW = dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)


def _item(**kw: object) -> InteractionIn:
    base = dict(account_id="acct-1", session_hint="c1", client_ip="203.0.113.7", user_agent="",
                region="EU", occurred_at=NOW, kind="interaction", prompt="hello", response="",
                contact="")
    base.update(kw)
    return InteractionIn(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("ip,prefix", [
    ("203.0.113.7", "203.0.113.0/24"),
    ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::/48"),
    ("::ffff:198.51.100.23", "198.51.100.0/24"),
    ("fe80::1%eth0", "fe80::/48"),
])
def test_only_the_network_prefix_of_an_ip_is_kept(ip: str, prefix: str) -> None:
    assert network_prefix(ip) == prefix


def test_an_invalid_ip_is_rejected_without_echoing_it() -> None:
    with pytest.raises(InvalidArgument) as exc:
        network_prefix("999.1.2.3")
    assert exc.value.reason == "CLIENT_IP_INVALID" and "999" not in exc.value.message


def test_user_agent_is_reduced_to_a_family() -> None:
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1"
    assert user_agent_family(ua) == "Safari (mobile)"
    assert user_agent_family("Googlebot/2.1") == "bot"


@pytest.mark.parametrize("changes,reason", [
    ({"account_id": ""}, "ACCOUNT_ID_INVALID"),
    ({"prompt": "  "}, "PROMPT_EMPTY"),
    ({"prompt": "x" * 300_000}, "PROMPT_TOO_LARGE"),
    ({"prompt": "bad \ud800 surrogate"}, "PROMPT_NOT_UTF8"),
    ({"region": "europe"}, "REGION_INVALID"),
    ({"occurred_at": None}, "TIMESTAMP_MISSING"),
    ({"occurred_at": NOW + dt.timedelta(days=3)}, "TIMESTAMP_IN_FUTURE"),
    ({"kind": "chat"}, "KIND_INVALID"),
    ({"kind": "support_ticket", "prompt": "", "contact": ""}, "TICKET_EMPTY"),
])
def test_invalid_interactions_are_rejected_with_a_reason(changes: dict, reason: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate(_item(**changes), NOW)
    assert exc.value.reason == reason


def test_a_valid_interaction_passes() -> None:
    validate(_item(), NOW)
    validate(_item(kind="support_ticket", prompt="", contact="reach me by mail"), NOW)
