"""Stable ids derived from natural keys (uuid5), in one place."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("6a3c1f0e-8d0b-4c55-9f57-1e7de1a5e7a1")


def stable_id(kind: str, *key: str) -> uuid.UUID:
    """``uuid5(NAMESPACE, kind + ":" + "|".join(key))``: the same natural key gives the same id."""
    return uuid.uuid5(NAMESPACE, kind + ":" + "|".join(key))
