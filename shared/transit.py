"""The vault's bucket keys as Transit keys (HashiCorp Vault / OpenBao Transit engine, via ``hvac``).

With ``LETHE_KEY_SOURCE=transit`` the key material of the bucket keys never leaves Transit::

    Transit engine (mount LETHE_TRANSIT_MOUNT)      vault/keys.db (deks table, backed up)
    ------------------------------------------      -------------------------------------
    lethe-bucket-<bbb>  versions v1, v2 ...  --->   wrapped = b"vault:v<n>:<base64>" (ASCII), the
      aes256-gcm96, derived (HKDF per context),       DEK (32 bytes) encrypted by Transit with
      deletion_allowed                                version n of the bucket's key, context
                                                      ``subject_ref|generation`` (binds the row)

Transit's own keyring (its barrier, unsealed by the server's seal) plays the root KEK's part: no
Lethe process ever holds a bucket key, so nothing needs a root wrap. Versions are the bucket key
versions of :class:`services.vault.keys.KeyHierarchy`: ``create`` rotates the Transit key,
``wrap``/``unwrap`` are Transit ``encrypt``/``decrypt`` pinned to a version, and ``destroy`` trims:
``min_decryption_version`` and ``min_encryption_version`` move past the version, then
``trim`` with ``min_available_version`` deletes the older key material from Transit's storage, so a
destroyed version exists nowhere (and not in a Transit backup taken after the trim).

Transit destroys versions oldest first only (a trim removes every version below a bound), so
``destroy(bucket, v)`` trims when ``v`` is the bucket's oldest live version and otherwise leaves it
for the destruction of the older ones (the vault destroys old versions in ascending order; see
:meth:`destroy`). The newest version is never destroyed (the vault never asks).

Errors: :class:`TransitKeyGone` (a subclass of :class:`shared.keysource.KeySourceError`) when a
ciphertext does not decrypt because its version was destroyed, its context does not match or it is
malformed; :class:`TransitError` for everything else (server unreachable, sealed, permission
denied), which is never mistaken for a destroyed key.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from shared.keysource import KeySourceError

PREFIX = "lethe-bucket-"
_MOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")


class TransitError(Exception):
    """Transit could not be asked (unreachable, sealed, forbidden): retry later; names no key value."""


class TransitKeyGone(KeySourceError):
    """A ciphertext does not decrypt: its key version was destroyed, or it is not this row's."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def valid_mount(mount: str) -> bool:
    """True for a Transit mount path such as ``transit`` or ``kms/transit``."""
    return bool(_MOUNT.match(mount))


class TransitBucketKeys:
    """Bucket keys ``lethe-bucket-<bbb>`` in a Transit engine (see the module docstring).

    Args:
        address: server URL, e.g. ``https://vault:8200`` (``VAULT_ADDR``).
        token: a token allowed to create, read, rotate, configure, trim, encrypt, decrypt the
            ``lethe-bucket-*`` keys of the mount (``VAULT_TOKEN``).
        mount: the Transit mount (``LETHE_TRANSIT_MOUNT``, default ``transit``).
        timeout: seconds per HTTP request.
        client: an ``hvac.Client`` to use instead of building one (tests).
    """

    def __init__(self, address: str, token: str, mount: str = "transit", timeout: float = 10.0,
                 client: Any = None) -> None:
        if not valid_mount(mount):
            raise ValueError("invalid Transit mount")
        if client is None:
            import hvac

            client = hvac.Client(url=address, token=token, timeout=timeout)
        self.client = client
        self.mount = mount

    # ---- plumbing: every call goes through here so that failures are typed ----
    def _call(self, what: str, fn: Callable[[], Any], gone_ok: bool = False) -> Any:
        from hvac import exceptions as hx

        try:
            return fn()
        except (hx.InvalidRequest, hx.InvalidPath) as error:
            if gone_ok:
                raise TransitKeyGone(f"Transit {what}: does not decrypt") from None
            raise TransitError(f"Transit {what} refused: {type(error).__name__}") from None
        except Exception as error:  # noqa: BLE001 - connection, 5xx, sealed, forbidden
            raise TransitError(f"Transit {what} failed: {type(error).__name__}") from None

    def _name(self, bucket: int) -> str:
        return f"{PREFIX}{bucket:03d}"

    def _read(self, bucket: int) -> dict[str, Any] | None:
        from hvac import exceptions as hx

        name = self._name(bucket)
        try:
            return dict(self.client.secrets.transit.read_key(name, mount_point=self.mount)["data"])
        except hx.InvalidPath:
            return None
        except Exception as error:  # noqa: BLE001
            raise TransitError(f"Transit read {name} failed: {type(error).__name__}") from None

    def _config(self, bucket: int, **values: Any) -> None:
        # Raw write: hvac's own check refuses min_encryption_version == min_decryption_version,
        # which Transit accepts and a trim right after a rotation needs.
        name = self._name(bucket)
        self._call(f"config {name}", lambda: self.client.write(
            f"{self.mount}/keys/{name}/config", **values))

    def check(self) -> None:
        """Ask Transit once (read bucket 0's key); raises TransitError when unreachable, sealed or
        the token is refused. Start-up calls this so a wrong address fails fast, not at first use."""
        self._read(0)

    # ---- the bucket-key interface used by KeyHierarchy ----
    def versions(self, bucket: int) -> list[int]:
        """Versions whose key material still exists in Transit (trimmed ones excluded), ascending.

        Versions below ``min_decryption_version`` but not yet trimmed are listed: they still exist.
        """
        info = self._read(bucket)
        if info is None:
            return []
        first = max(int(info.get("min_available_version") or 0), 1)
        return list(range(first, int(info["latest_version"]) + 1))

    def create(self, bucket: int, version: int) -> None:
        """Make ``version`` exist: create the key (v1) or rotate until it is the latest (idempotent)."""
        name = self._name(bucket)
        info = self._read(bucket)
        if info is None:
            self._call(f"create {name}", lambda: self.client.secrets.transit.create_key(
                name, derived=True, key_type="aes256-gcm96", mount_point=self.mount))
            self._config(bucket, deletion_allowed=True)
            latest = 1
        else:
            latest = int(info["latest_version"])
        while latest < version:
            self._call(f"rotate {name}", lambda: self.client.secrets.transit.rotate_key(
                name, mount_point=self.mount))
            latest += 1

    def wrap(self, bucket: int, version: int, dek: bytes, context: bytes) -> bytes:
        """Encrypt a DEK with ``version`` of the bucket key; returns ``vault:v<n>:...`` as ASCII."""
        name = self._name(bucket)
        data = self._call(f"encrypt {name}", lambda: self.client.secrets.transit.encrypt_data(
            name, plaintext=_b64(dek), context=_b64(context), key_version=version,
            mount_point=self.mount))["data"]
        return str(data["ciphertext"]).encode("ascii")

    def unwrap(self, bucket: int, version: int, wrapped: bytes, context: bytes) -> bytes:
        """Decrypt a wrapped DEK; raises TransitKeyGone when it cannot be (destroyed, not this row's)."""
        name = self._name(bucket)
        try:
            ciphertext = wrapped.decode("ascii")
        except UnicodeDecodeError:
            raise TransitKeyGone(f"Transit decrypt {name}: not a Transit ciphertext") from None
        if not ciphertext.startswith(f"vault:v{version}:"):
            raise TransitKeyGone(f"Transit decrypt {name}: not version {version}")
        data = self._call(f"decrypt {name}", lambda: self.client.secrets.transit.decrypt_data(
            name, ciphertext=ciphertext, context=_b64(context), mount_point=self.mount),
            gone_ok=True)["data"]
        return base64.b64decode(data["plaintext"])

    def rewrap(self, bucket: int, version: int,
               items: list[tuple[int, bytes, bytes]]) -> list[bytes | None]:
        """Re-encrypt wrapped DEKs ``(version, wrapped, context)`` under ``version``, inside Transit
        (one batch ``rewrap``: no DEK leaves it). Returns the new values in order; None for an item
        whose version is no longer decryptable (destroyed). Raises TransitError for anything else,
        including an item of a live version that Transit refuses: such a DEK is never skipped
        (skipped DEKs stay on versions that are destroyed next)."""
        if not items:
            return []
        name = self._name(bucket)
        batch = [{"ciphertext": w.decode("ascii", "replace"), "context": _b64(c), "key_version": version}
                 for _, w, c in items]
        try:
            results = self._call(f"rewrap {name}", lambda: self.client.secrets.transit.rewrap_data(
                name, None, batch_input=batch, mount_point=self.mount), gone_ok=True)["data"]["batch_results"]
        except TransitKeyGone:  # every item refused (Transit answers 400): none decrypts
            results = [{"error": "refused"}] * len(items)
        out: list[bytes | None] = []
        floor = None
        for (old, wrapped, _), result in zip(items, results, strict=True):
            if "ciphertext" in result and wrapped.startswith(f"vault:v{old}:".encode()):
                out.append(str(result["ciphertext"]).encode("ascii"))
                continue
            if floor is None:
                info = self._read(bucket) or {}
                floor = max(int(info.get("min_decryption_version") or 0),
                            int(info.get("min_available_version") or 0))
            if old >= floor:
                raise TransitError(f"Transit rewrap {name} refused a DEK of live version {old}")
            out.append(None)
        return out

    def destroy(self, bucket: int, version: int) -> None:
        """Destroy ``version`` and (Transit can only trim a prefix) nothing newer; idempotent.

        When ``version`` is the oldest live one: raise ``min_decryption_version`` and
        ``min_encryption_version`` above it, then trim (``min_available_version``) so its key
        material is deleted. When an older version is still live, nothing happens now: the version
        goes with the older one's destruction (callers destroy old versions in ascending order).
        Raises TransitError; raises KeySourceError for the latest version (never destroyed).
        """
        versions = self.versions(bucket)
        if version not in versions or version != versions[0]:
            return
        if version == versions[-1]:
            raise KeySourceError(f"{self._name(bucket)} v{version} is the latest version")
        info = self._read(bucket) or {}
        floor = version + 1
        self._config(bucket, min_decryption_version=max(floor, int(info.get("min_decryption_version") or 0)),
                     min_encryption_version=max(floor, int(info.get("min_encryption_version") or 0)))
        name = self._name(bucket)
        self._call(f"trim {name}", lambda: self.client.secrets.transit.trim_key(
            name, min_version=floor, mount_point=self.mount))


def transit_bucket_keys(settings: Any) -> TransitBucketKeys | None:
    """The Transit bucket keys configured in ``settings`` (``key_source == "transit"``), else None."""
    if getattr(settings, "key_source", "file") != "transit":
        return None
    return TransitBucketKeys(settings.transit_address, settings.transit_token, settings.transit_mount)
