"""One contract for every registered alert channel: it delivers, survives a dead endpoint, and hides secrets."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from alerts import REGISTRY, DeliveryError, Notifier, PluginUnavailable, build_channel
from alerts.slack_loopback import SlackLoopback
from core.domain import Delivery

TOKEN = "xoxb-contract-test-secret"
#: kind -> how to build it against a given API base URL; a new channel adds its line here.
FACTORIES: dict[str, Callable[[str], Notifier]] = {
    "slack": lambda base_url: build_channel("slack", token=TOKEN, base_url=base_url, timeout_s=2),
}


def _dead_url() -> str:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


def _delivery(key: str) -> Delivery:
    payload = {"type": "alert", "brand": "Kestrel Mobile", "text": "my bill doubled", "author_handle": "ana",
               "sentiment": "negative", "level": "high", "url": "https://x.com/ana/status/1"}
    return Delivery(id=1, kind="slack", channel="#care", dedupe_key=key, payload=payload, attempts=0)


def test_every_channel_has_a_contract_factory() -> None:
    assert set(FACTORIES) == set(REGISTRY)
    with pytest.raises(PluginUnavailable, match="unknown alert channel 'pager'"):
        build_channel("pager")


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_a_channel_delivers_and_can_find_what_it_sent(kind: str) -> None:
    with SlackLoopback() as server:
        channel = FACTORIES[kind](server.base_url)
        result = channel.send(_delivery("contract:1"))
        assert result
        assert channel.find_sent(_delivery("contract:1")) is not None
        assert channel.find_sent(_delivery("contract:never-sent")) is None


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_a_dead_endpoint_is_a_retriable_delivery_error(kind: str) -> None:
    channel = FACTORIES[kind](_dead_url())
    with pytest.raises(DeliveryError) as caught:
        channel.send(_delivery("contract:2"))
    assert not caught.value.permanent
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_redacted_holds_no_secret(kind: str) -> None:
    described = FACTORIES[kind]("https://slack.invalid/api/").redacted()
    assert described["kind"] == kind
    assert TOKEN not in repr(described)
