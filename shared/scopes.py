"""Narrower scopes inside an allowed method, from the ``[scopes]`` table of ``shared/authz.toml``.

:mod:`shared.authz` decides whether an identity may call a method at all; some methods are allowed
to an identity only for part of what they can do, and the service owning the data enforces that:
which content forms a caller may ``Read`` from the vault (retention: redacted forms, for
aggregation), and who may ``Sweep`` as if the clock read a time later than now. A ``None``
identity (TLS off, explicit local dev) is never restricted.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from shared.authz import DEFAULT_POLICY
from shared.config import setting


@functools.cache
def _scopes() -> dict[str, Any]:
    source = Path(setting("LETHE_AUTHZ_FILE") or DEFAULT_POLICY)
    return dict(tomllib.loads(source.read_text()).get("scopes", {}))


def readable_forms(identity: str | None) -> frozenset[str] | None:
    """The content forms ``identity`` may read from the vault, or None for no restriction."""
    forms = _scopes().get("read_forms", {})
    if identity is None or identity not in forms:
        return None
    return frozenset(forms[identity])


def may_sweep_ahead(identity: str | None) -> bool:
    """True when ``identity`` may sweep as if the clock read a time later than now."""
    return identity is None or identity in _scopes().get("sweep_ahead", [])
