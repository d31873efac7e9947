"""Channels and stubs to other Lethe services (mutual TLS, deadlines on every call)."""

from __future__ import annotations

import threading
from typing import Any

import grpc

from shared.config import Settings
from shared.errors import Unavailable
from shared.keysource import FileKeySource
from shared.tls import channel_credentials, channel_options

DEFAULT_TIMEOUT_S = 30.0
_OPTIONS = [("grpc.max_receive_message_length", 32 * 1024 * 1024),
            ("grpc.max_send_message_length", 32 * 1024 * 1024)]


class Peers:
    """Lazily opened channels to the services of one deployment, as one identity.

    Each channel is pinned to the service it is meant for: the peer's certificate must name that
    service (:func:`shared.tls.channel_options`), or the handshake fails and nothing is sent.

    ``stub(service, StubClass)`` returns a stub on a cached channel. Call deadlines are the
    caller's job: pass ``timeout=`` (seconds) on every call, e.g. :data:`DEFAULT_TIMEOUT_S`.
    """

    def __init__(self, settings: Settings, keys: FileKeySource, identity: str) -> None:
        self.settings = settings
        self.keys = keys
        self.identity = identity
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def channel(self, service: str) -> grpc.Channel:
        """The channel to ``service`` (opened on first use)."""
        with self._lock:
            if service not in self._channels:
                address = self.settings.peer(service)
                if self.settings.tls:
                    creds = channel_credentials(self.keys, self.identity)
                    self._channels[service] = grpc.secure_channel(
                        address, creds, [*_OPTIONS, *channel_options(service)])
                else:
                    self._channels[service] = grpc.insecure_channel(address, _OPTIONS)
            return self._channels[service]

    def stub(self, service: str, stub_class: type) -> Any:
        """A stub of ``stub_class`` on the channel to ``service``."""
        return stub_class(self.channel(service))

    def call(self, service: str, stub_class: type, method: str, request: Any,
             timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """Call ``method`` of ``service`` with a deadline of ``timeout`` seconds.

        Raises Unavailable when the service is down or too slow (UNAVAILABLE, DEADLINE_EXCEEDED),
        so that the caller's own caller gets UNAVAILABLE quickly and can retry; other errors
        propagate as grpc.RpcError.
        """
        try:
            return getattr(self.stub(service, stub_class), method)(request, timeout=timeout)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(f"{service} is unavailable; retry later") from None
            raise

    def close(self) -> None:
        """Close every channel."""
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
