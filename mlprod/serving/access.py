"""Access control for the model server: API keys stored hashed, per-model scopes, expiry.

A keys file is JSON, one entry per key: ``id`` (public, 12 hex digits), ``name``, ``models``
(model names, or ``"*"`` for every model), ``expires`` (UTC ISO time or null), ``created``,
``salt`` and ``hash`` (scrypt of the secret; the secret itself is never stored). A key reads
``mlp_<id>_<secret>``; clients send it as ``Authorization: Bearer <key>`` (REST) or in the
``authorization`` gRPC metadata. :func:`add_key` prints nothing and returns the key: show it
once (``mlprod serve-keys add`` does), it cannot be recovered from the file.

:class:`KeyStore` is the server side: it re-reads the file when it changes (a ``stat`` at most
every half second: rotation without restart) and keeps the last good keys when the file cannot
be read (logged, and ``/healthz`` answers 503 naming the problem). A key is verified with scrypt
once (~60 ms); then a keyed digest of it (BLAKE2b) is cached, so a request costs a digest and a dict lookup.

Example:
    >>> import os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), "keys.json")
    >>> key = add_key(f, "ci", ["penguin"], expires="30D")
    >>> store = KeyStore(f)
    >>> store.authenticate(f"Bearer {key}").name
    'ci'
    >>> store.authorize(store.authenticate(f"Bearer {key}"), "taxi")
    Traceback (most recent call last):
    ...
    mlprod.errors.PermissionDenied: API key 'ci' may not use model 'taxi' (its models: penguin).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from mlprod.errors import ConfigError, NotFound, PermissionDenied, Unauthenticated

log = logging.getLogger("mlprod.serving")

#: scrypt cost (RFC 7914's interactive setting: 16 MiB, ~60 ms here); stored per key, so it can grow
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
_RECHECK_S = 0.5  # how often the keys file is stat-ed for changes
_KEY = re.compile(r"^mlp_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,200})$")
_MISSING = ("missing or invalid API key: send the header 'Authorization: Bearer <key>' (gRPC: metadata "
            "'authorization'); `mlprod serve-keys add` makes a key.")


def _scrypt(secret: str, salt: bytes, kdf: dict[str, int]) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=kdf["n"], r=kdf["r"], p=kdf["p"], maxmem=128 << 20, dklen=32)


@dataclass(frozen=True)
class ApiKey:
    """One key of a keys file (no secret): who it is, which models it may call, until when."""

    id: str
    name: str
    models: tuple[str, ...]
    expires: float | None  # POSIX seconds, None: never
    hash: str

    def covers(self, model: str) -> bool:
        """Whether this key may call ``model``."""
        return "*" in self.models or model in self.models

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (time.time() if now is None else now) >= self.expires


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def _parse_time(value: str, where: str) -> float:
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: expires={value!r} is not an ISO time (2027-01-31 or 2027-01-31T12:00:00Z).") \
            from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


def expiry_time(expires: str | None, now: float | None = None) -> float | None:
    """POSIX time of ``expires``: a duration from now (pandas style: ``"30D"``, ``"12h"``) or an
    ISO date/time (UTC unless it says otherwise); None: never.

    Example:
        >>> expiry_time("1D", now=0.0)
        86400.0
        >>> expiry_time("1970-01-02")
        86400.0
    """
    if expires is None:
        return None
    now = time.time() if now is None else now
    if re.fullmatch(r"\s*\d+(\.\d+)?\s*[A-Za-z]+\s*", expires):
        import pandas as pd

        try:
            delta = pd.Timedelta(expires.strip()).total_seconds()
        except ValueError:
            raise ConfigError(f"expires={expires!r} is not a duration; use e.g. '30D', '12h' or an ISO date.") \
                from None
        if delta <= 0:
            raise ConfigError(f"expires={expires!r} must be a positive duration.")
        return now + delta
    return _parse_time(expires, "add_key")


def _entries(path: str) -> list[dict[str, Any]]:
    """The entries of a keys file ([] when it does not exist yet); ConfigError when it is not one."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the API keys file {path} ({e}); it is JSON written by "
                          "`mlprod serve-keys add`.") from None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    need = {"id", "name", "models", "salt", "hash"}
    if not isinstance(keys, list) or not all(isinstance(k, dict) and need <= set(k) for k in keys):
        raise ConfigError(f"{path} is not an API keys file: expected {{\"keys\": [{{\"id\", \"name\", \"models\", "
                          "\"salt\", \"hash\", ...}]}; write it with `mlprod serve-keys add`.")
    return keys


def _write(path: str, keys: list[dict[str, Any]]) -> None:
    """Write atomically (a server never reads half a file), readable by the owner only."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".keys-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": keys}, f, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def add_key(keys_file: str, name: str, models: list[str] | str, *, expires: str | None = None) -> str:
    """Add an API key to ``keys_file`` (made if missing) and return it: the only time it is shown.

    Args:
        keys_file: the server's ``api_keys_file``; a running server picks the new key up within a second.
        name: who holds the key (unique in the file; ``remove_key`` takes it), e.g. ``"ci-2026-12"``.
        models: the model names it may call, or ``"*"`` (every model, and protected metrics/health);
            a comma-separated string works too.
        expires: a duration from now (``"30D"``, ``"12h"``) or an ISO date; None: never.

    Returns:
        The key, ``mlp_<id>_<secret>``: send it as ``Authorization: Bearer <key>``.

    Raises:
        ConfigError: an empty or duplicate name, no models, or a bad ``expires``.

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "keys.json")
        >>> add_key(f, "dashboard", "penguin,taxi").startswith("mlp_")
        True
    """
    ms = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m and m.strip()]
    if not name or not isinstance(name, str):
        raise ConfigError("add_key: give the key a name (who holds it), e.g. name='ci'.")
    if not ms:
        raise ConfigError("add_key: models must name at least one model, or '*' for every model.")
    bad = [m for m in ms if m != "*" and ("/" in m or ":" in m)]
    if bad:
        raise ConfigError(f"add_key: {bad} are not model names (no '/' or ':'); use the names of /v1/models/NAME.")
    until = expiry_time(expires)
    keys = _entries(keys_file)
    if any(k["name"] == name for k in keys):
        raise ConfigError(f"{keys_file} already has a key named {name!r}; pick another name (rotate: add the "
                          "new key, move the clients, then `remove_key` the old one).")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    keys.append({"id": key_id, "name": name, "models": ms, "expires": None if until is None else _utc(until),
                 "created": _utc(time.time()), "kdf": {"name": "scrypt", **_SCRYPT}, "salt": salt.hex(),
                 "hash": _scrypt(secret, salt, _SCRYPT).hex()})
    _write(keys_file, keys)
    return f"mlp_{key_id}_{secret}"


def remove_key(keys_file: str, name: str) -> None:
    """Remove the key called ``name`` (or with that id); servers refuse it within a second.

    Raises:
        NotFound: no key has that name or id.

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "keys.json")
        >>> _ = add_key(f, "old", "*"); remove_key(f, "old"); len(list_keys(f))
        0
    """
    keys = _entries(keys_file)
    kept = [k for k in keys if name not in (k["name"], k["id"])]
    if len(kept) == len(keys):
        raise NotFound(f"{keys_file} has no key named {name!r} (its keys: {[k['name'] for k in keys]}).")
    _write(keys_file, kept)


def list_keys(keys_file: str) -> Any:
    """The keys of a file as a DataFrame (id, name, models, created, expires, expired); no secrets.

    Example:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), "keys.json")
        >>> _ = add_key(f, "ci", ["penguin"]); list_keys(f)[["name", "models", "expired"]].to_dict("records")
        [{'name': 'ci', 'models': 'penguin', 'expired': False}]
    """
    import pandas as pd

    now = time.time()
    rows = [{"id": k["id"], "name": k["name"], "models": ",".join(k["models"]), "created": k.get("created"),
             "expires": k.get("expires"),
             "expired": bool(k.get("expires")) and _parse_time(k["expires"], keys_file) <= now}
            for k in _entries(keys_file)]
    return pd.DataFrame(rows, columns=["id", "name", "models", "created", "expires", "expired"])


class KeyStore:
    """The keys a server accepts, re-read from ``path`` when the file changes.

    Raises:
        ConfigError: at construction, when the file is missing or not a keys file.
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.error: str | None = None  # why the file could not be re-read (the last good keys stay)
        self._lock = threading.Lock()
        self._digest_key = secrets.token_bytes(32)  # per process: the cache never holds a key itself
        self._verified: dict[bytes, str] = {}  # digest of a key -> key id, after one scrypt
        self._refused: set[bytes] = set()  # digests of keys that failed scrypt (bounded)
        if not os.path.exists(self.path):
            raise ConfigError(f"the API keys file {self.path} does not exist; make it with "
                              f"`mlprod serve-keys add {self.path} --name NAME --models MODEL`.")
        self._stat: tuple[int, int, int] | None = None
        self.keys: dict[str, tuple[ApiKey, bytes, dict[str, int]]] = {}
        self._load(initial=True)
        self._next_check = time.monotonic() + _RECHECK_S

    def _load(self, initial: bool = False) -> None:
        try:
            st = os.stat(self.path)
            entries = _entries(self.path)
            keys = {}
            for k in entries:
                until = _parse_time(k["expires"], self.path) if k.get("expires") else None
                kdf = {p: int(k.get("kdf", _SCRYPT).get(p, _SCRYPT[p])) for p in ("n", "r", "p")}
                keys[k["id"]] = (ApiKey(k["id"], k["name"], tuple(k["models"]), until, k["hash"]),
                                 bytes.fromhex(k["salt"]), kdf)
        except (OSError, ConfigError, ValueError, TypeError, AttributeError) as e:
            if initial:
                raise ConfigError(f"cannot read the API keys file {self.path}: {e}") from None
            msg = f"cannot re-read the API keys file {self.path} ({e}); the last good keys stay in use"
            if msg != self.error:
                log.error("%s", msg)
            self.error = msg
            return
        with self._lock:
            same = {i for i, (k, _, _) in keys.items() if i in self.keys and self.keys[i][0].hash == k.hash}
            self._verified = {d: i for d, i in self._verified.items() if i in same}
            self._refused = set()
            self.keys, self._stat, self.error = keys, (st.st_mtime_ns, st.st_size, st.st_ino), None
        if not initial:
            log.info("API keys re-read from %s: %d keys", self.path, len(keys))

    def refresh(self) -> None:
        """Re-read the file if it changed (a stat at most every half second)."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + _RECHECK_S
        try:
            st = os.stat(self.path)
            changed = (st.st_mtime_ns, st.st_size, st.st_ino) != self._stat
        except OSError:
            changed = True
        if changed:
            self._load()

    def _digest(self, token: str) -> bytes:
        # keyed BLAKE2b is a MAC (RFC 7693); ~0.5 us, where hmac.digest(sha256) measured ~9 us per call
        return hashlib.blake2b(token.encode(), key=self._digest_key, digest_size=32).digest()

    def cached(self, authorization: str | None) -> ApiKey | None:
        """The key of an ``Authorization`` value when it needs no scrypt (verified before), else None.

        Raises:
            Unauthenticated: no key, a malformed or unknown one, a refused one, or an expired key.
        """
        self.refresh()
        token = _token(authorization)
        m = _KEY.match(token)
        if m is None or m["id"] not in self.keys:
            raise Unauthenticated(_MISSING)
        d = self._digest(token)
        if d in self._refused:
            raise Unauthenticated(_MISSING)
        key_id = self._verified.get(d)
        if key_id is None:
            return None
        entry = self.keys.get(key_id)
        if entry is None:
            raise Unauthenticated(_MISSING)
        return _alive(entry[0])

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The key of an ``Authorization`` value (``"Bearer mlp_..."``).

        Raises:
            Unauthenticated: no key, a wrong or removed one, or an expired key.
        """
        key = self.cached(authorization)
        if key is not None:
            return key
        token = _token(authorization)
        m = _KEY.match(token)
        entry = self.keys.get(m["id"]) if m else None
        if m is None or entry is None:
            raise Unauthenticated(_MISSING)
        api_key, salt, kdf = entry
        d = self._digest(token)
        if not hmac.compare_digest(_scrypt(m["secret"], salt, kdf).hex(), api_key.hash):
            if len(self._refused) > 10_000:
                self._refused.clear()
            self._refused.add(d)
            raise Unauthenticated(_MISSING)
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[d] = api_key.id
        return _alive(api_key)

    @staticmethod
    def authorize(key: ApiKey, model: str) -> None:
        """Raise PermissionDenied unless ``key`` may call ``model``."""
        if not key.covers(model):
            raise PermissionDenied(f"API key {key.name!r} may not use model {model!r} "
                                   f"(its models: {', '.join(key.models)}).")

    @staticmethod
    def authorize_all(key: ApiKey, models: list[str], what: str) -> None:
        """Raise PermissionDenied unless ``key`` may call every one of ``models`` (the message names none)."""
        if not all(key.covers(m) for m in models):
            raise PermissionDenied(f"API key {key.name!r} may not read {what}: that needs a key for every model "
                                   "(models '*').")

    def __len__(self) -> int:
        return len(self.keys)


def _token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(_MISSING)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(_MISSING)
    return token.strip()


def _alive(key: ApiKey) -> ApiKey:
    if key.expired():
        raise Unauthenticated(f"API key {key.name!r} expired at {_utc(key.expires or 0)}; ask for a new one "
                              "(`mlprod serve-keys add`).")
    return key
