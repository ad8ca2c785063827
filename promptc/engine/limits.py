"""The server's configuration: tenants (API keys) and every limit, validated when the server starts.

A bad value is a coded usage error (see :mod:`promptc.core.engine_errors`), raised before the model is
loaded, so ``promptc serve`` exits 2 with a message instead of serving with a silently wrong setting.
The limits are listed, with their defaults and flags, in docs/security.md ("Shared engine").
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from promptc.core.engine_errors import EmptyKeyError, InvalidLimit, InvalidSize, KeysFileError, MetricsKeyError

_UNITS = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "kb": 10**3, "mb": 10**6, "gb": 10**9,
          "tb": 10**12, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "b": 1, "": 1}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]*)\s*$")
_MAX_SIZE = 1 << 50  # 1 PiB: anything larger is a typo, not a budget


def parse_size(text: str | int, field: str = "--budget") -> int:
    """``2GiB``, ``512MiB``, ``1.5GB``, ``1000000`` → bytes. Negative, infinite or unreadable sizes are E701."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = _SIZE.match(str(text).lower())
        if m is None or m.group(2) not in _UNITS:
            raise InvalidSize(field, f"cannot read {text!r} as a size",
                              hint="a non-negative number with an optional unit: 2GiB, 512MiB, 1.5GB, 1000000")
        number = float(m.group(1)) * _UNITS[m.group(2)]
        if not math.isfinite(number):
            raise InvalidSize(field, f"{text!r} is out of range", hint="a size between 0 and 1PiB, e.g. 2GiB")
        value = int(number)
    if value < 0 or value > _MAX_SIZE:
        raise InvalidSize(field, f"{text!r} is out of range", hint="a size between 0 and 1PiB, e.g. 2GiB")
    return value


def parse_seconds(value: float | str | None, field: str = "--ttl") -> float | None:
    """A positive, finite number of seconds (or None for "never"). Zero, negative, inf and nan are E702."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidLimit(field, f"cannot read {value!r} as seconds", hint="a positive number, e.g. 3600") from None
    if not math.isfinite(v) or v <= 0:
        raise InvalidLimit(field, f"{value!r} is not a positive, finite number of seconds",
                           hint="a positive number, e.g. 3600; leave it out for no expiry")
    return v


def visible_ascii(key: str) -> bool:
    """True when ``key`` is only visible ASCII (``!`` to ``~``): what an HTTP header carries as typed."""
    return all("!" <= c <= "~" for c in key)


def _check_keys(keys: dict, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, tenant in keys.items():
        if not isinstance(k, str) or not isinstance(tenant, str):
            raise KeysFileError(where, f"key {k!r} → {tenant!r}: keys and tenants must be strings",
                                hint='{"keys": {"KEY": "tenant"}}')
        if not k.strip() or not tenant.strip():
            raise EmptyKeyError(where, "an API key or tenant name is empty" + (f" (tenant {tenant!r})" if tenant.strip()
                                                                              else ""),
                                hint="an empty key would let requests without a key in; give every key and "
                                     "tenant a non-empty value")
        if k != k.strip() or any(c.isspace() for c in k):
            raise KeysFileError(where, f"the key for tenant {tenant!r} contains whitespace",
                                hint="a key is sent as `Authorization: Bearer KEY`, so it cannot contain spaces")
        if not visible_ascii(k):
            raise KeysFileError(where, f"the key for tenant {tenant!r} contains an invisible or non-ASCII character",
                                hint="a key is one word of visible ASCII (a zero-width space or a look-alike "
                                     "letter would make a key nobody can type)")
        out[k] = tenant.strip()
    return out


def load_api_keys(keys_file: str | os.PathLike | None = None, env: str | None = None) -> dict[str, str]:
    """Keys from ``keys_file`` (JSON ``{"keys": {"KEY": "tenant"}}``) and ``env`` (``KEY=tenant,KEY2=tenant2``;
    ``PROMPTC_API_KEYS`` when ``env`` is None). Malformed input is E703, an empty key or tenant E704."""
    keys: dict[str, str] = {}
    if keys_file is not None:
        where = f"--keys {keys_file}"
        try:
            text = Path(keys_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeysFileError(where, f"cannot read the keys file: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise KeysFileError(where, f"not valid JSON: {exc}", hint='{"keys": {"KEY": "tenant"}}') from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise KeysFileError(where, 'expected a JSON object with a "keys" object',
                                hint='{"keys": {"KEY": "tenant"}}')
        if not data["keys"]:
            raise KeysFileError(where, "the keys file defines no API keys",
                                hint="an empty file would turn authentication off; add keys or drop --keys")
        keys.update(_check_keys(data["keys"], where))
    env = os.environ.get("PROMPTC_API_KEYS", "") if env is None else env
    pairs: dict[str, str] = {}
    for pair in env.split(","):
        if not pair.strip():
            continue
        k, sep, tenant = pair.partition("=")
        if not sep:
            raise KeysFileError("PROMPTC_API_KEYS", f"{pair.strip()[:4]}…: expected KEY=tenant",
                                hint="PROMPTC_API_KEYS=KEY=tenant,KEY2=tenant2")
        pairs[k.strip()] = tenant.strip()
    keys.update(_check_keys(pairs, "PROMPTC_API_KEYS"))
    return keys


@dataclass
class ServerConfig:
    """Tenants and limits. With no API keys every caller is the ``default`` tenant (loopback use).

    Every limit is checked when the config is made (E702 for a non-positive value, E704 for an
    empty key), so a server never starts with a limit that silently means "unlimited".
    """

    api_keys: dict[str, str] = field(default_factory=dict)  # key → tenant
    max_body_bytes: int = 4 << 20  # a larger request body is refused with 413 before it is read
    max_json_depth: int = 32  # nesting of arrays/objects in a request body
    max_segments: int = 256
    max_messages: int = 256
    max_tokens_limit: int = 4096  # the largest max_tokens a request may ask for
    default_max_tokens: int = 256
    model_id: str = "smollm2-135m-instruct"
    # back-pressure (docs/engine.md, "Back-pressure and deadlines")
    max_queue: int = 64  # requests waiting for a batch slot; one more gets 429 (E711)
    retry_after_s: int = 1  # the 429's retry-after header
    deadline_s: float = 600.0  # default and ceiling of a request's deadline (E712); `timeout` may ask for less
    # a bearer key that reads every tenant's /metrics series (tenant keys read their own); None: no such key
    metrics_key: str | None = None
    # slow clients (docs/security.md, "Shared engine"): a request's headers and its body must arrive
    # within these many seconds, and at most max_connections connections are open at once
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise InvalidLimit(f.name, f"{v!r} is not a positive integer")
        if self.default_max_tokens > self.max_tokens_limit:
            raise InvalidLimit("default_max_tokens", f"{self.default_max_tokens} exceeds max_tokens_limit "
                                                     f"{self.max_tokens_limit}")
        self.api_keys = _check_keys(dict(self.api_keys), "api_keys")
        self.deadline_s = parse_seconds(self.deadline_s, "deadline_s")
        self.header_timeout_s = parse_seconds(self.header_timeout_s, "header_timeout_s")
        self.body_timeout_s = parse_seconds(self.body_timeout_s, "body_timeout_s")
        if self.metrics_key is not None:
            k = self.metrics_key
            if not isinstance(k, str) or not k.strip() or any(c.isspace() for c in k) or not visible_ascii(k):
                raise MetricsKeyError("metrics_key", "the metrics key is empty or contains whitespace or an "
                                                     "invisible or non-ASCII character",
                                      hint="a key is sent as `Authorization: Bearer KEY`: one word of visible ASCII")
            if k in self.api_keys:
                raise MetricsKeyError("metrics_key", f"the metrics key is also the API key of tenant "
                                                     f"{self.api_keys[k]!r}",
                                      hint="that tenant could read every tenant's metrics; use a separate key")

    @classmethod
    def from_sources(cls, keys_file: str | None = None, **kw) -> "ServerConfig":
        """Keys from ``keys_file`` and ``PROMPTC_API_KEYS`` (see :func:`load_api_keys`); the metrics key
        from ``metrics_key`` or ``PROMPTC_METRICS_KEY``."""
        if kw.get("metrics_key") is None and os.environ.get("PROMPTC_METRICS_KEY"):
            kw["metrics_key"] = os.environ["PROMPTC_METRICS_KEY"]
        return cls(api_keys=load_api_keys(keys_file), **kw)


def parse_count(value: int | str, field: str) -> int:
    """A positive integer limit (``--max-tokens-limit 4096``); anything else is E702."""
    try:
        v = int(str(value).strip())
    except ValueError:
        raise InvalidLimit(field, f"cannot read {value!r} as a whole number", hint="a positive integer") from None
    if v < 1 or v > 1 << 31:
        raise InvalidLimit(field, f"{value!r} is out of range", hint="a positive integer below 2**31")
    return v
