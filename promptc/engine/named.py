"""Named segments: a tenant registers a segment once by name (``PUT /v1/segments/{name}`` with its role
and content) and requests reference it (``{"ref": "name"}`` in ``segments[]``) instead of resending
its content.

A name belongs to one tenant: the store's every key carries the tenant, so a name never resolves
across tenants. Registering new content under a name makes a new version (1, 2, ...); registering the
same content again is idempotent (same version, same hash). A reference resolves to the newest
version, or to ``{"ref": name, "version": n}``. The hash is promptc's segment hash of (role,
content) — the same hash a client would send inline — so a referenced segment and an inline one
with equal content share their KV-tree node.

Stores: :class:`MemoryNames` (one server process) and :class:`RedisNames` (replicas share the map
through Redis/Valkey: a name registered on one replica resolves on every other; the content is kept
by hash so any replica can prefill it). Limits: names match ``[A-Za-z0-9._-]{1,128}``; at most
``max_names`` names per tenant and ``max_versions`` versions per name (the oldest version is dropped);
content at most ``max_content_bytes``.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from promptc.core.hashing import segment_hash

NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
ROLES = ("system", "developer", "user", "assistant")
MAX_NAMES = 1000
MAX_VERSIONS = 16
MAX_CONTENT_BYTES = 4 << 20


class NamedError(Exception):
    """A user's mistake with a named segment: HTTP ``status``, OpenAI-style ``code`` and ``param``."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


@dataclass(frozen=True)
class NamedSegment:
    name: str
    version: int
    role: str
    content: str
    hash: str

    def to_json(self, *, content: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "role": self.role, "hash": self.hash,
                               "bytes": len(self.content.encode("utf-8"))}
        if content:
            out["content"] = self.content
        return out


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise NamedError(400, f"segment name {name[:140]!r} is invalid: use 1-128 of A-Z a-z 0-9 . _ -"
                         if isinstance(name, str) else "a segment name must be a string",
                         "invalid_segment_name", "name")
    return name


class NameStore(ABC):
    """The tenant → name → versions map. Subclasses implement :meth:`_versions` / :meth:`_write`
    atomically; :meth:`register` and :meth:`resolve` hold the rules."""

    def __init__(self, *, max_names: int = MAX_NAMES, max_versions: int = MAX_VERSIONS,
                 max_content_bytes: int = MAX_CONTENT_BYTES):
        self.max_names, self.max_versions, self.max_content_bytes = max_names, max_versions, max_content_bytes

    def check_body(self, name: str, body: Any) -> tuple[str, str]:
        check_name(name)
        if not isinstance(body, dict):
            raise NamedError(400, "the body must be a JSON object {\"role\": ..., \"content\": ...}", "invalid_json")
        extra = sorted(set(body) - {"role", "content", "hash"})
        if extra:
            raise NamedError(400, f"unknown field `{extra[0]}` (a named segment has role, content and an "
                             "optional hash)", "invalid_value", extra[0])
        role, content = body.get("role"), body.get("content")
        if role not in ROLES:
            raise NamedError(400, f"role must be one of {', '.join(ROLES)}", "invalid_value", "role")
        if not isinstance(content, str):
            raise NamedError(400, "content must be a string", "invalid_value", "content")
        if len(content.encode("utf-8")) > self.max_content_bytes:
            raise NamedError(413, f"a named segment's content is at most {self.max_content_bytes} bytes",
                             "segment_too_large", "content")
        if "hash" in body and body["hash"] != segment_hash(role, content):
            raise NamedError(400, f"hash does not match its role and content (expected "
                             f"{segment_hash(role, content)})", "segment_hash_mismatch", "hash")
        return role, content

    def register(self, tenant: str, name: str, body: Any) -> tuple[NamedSegment, bool]:
        """(the segment, created): a new version when the content changed, the same one otherwise."""
        role, content = self.check_body(name, body)
        return self._register(tenant, name, role, content, segment_hash(role, content))

    @abstractmethod
    def resolve(self, tenant: str, name: str, version: int | None = None) -> NamedSegment | None:
        """The segment ``name`` (its latest version, or ``version``) of ``tenant``; None when unknown."""

    @abstractmethod
    def _register(self, tenant: str, name: str, role: str, content: str, h: str) -> tuple[NamedSegment, bool]:
        """Store a checked segment atomically: (the segment, whether a new version was made)."""

    def resolve_refs(self, tenant: str, data: Any) -> Any:
        """``data`` (a request body) with each ``{"ref": name[, "version": n]}`` of ``segments`` replaced
        by the segment it names (id = the name); unknown names and bad references are NamedErrors."""
        if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
            return data
        if not any(isinstance(s, dict) and "ref" in s for s in data["segments"]):
            return data
        out = []
        for i, s in enumerate(data["segments"]):
            if not (isinstance(s, dict) and "ref" in s):
                out.append(s)
                continue
            extra = sorted(set(s) - {"ref", "version"})
            if extra:
                raise NamedError(400, f"segments[{i}]: a reference has `ref` and an optional `version`, not "
                                 f"`{extra[0]}`", "invalid_value", f"segments.{i}.{extra[0]}")
            version = s.get("version")
            if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
                raise NamedError(400, f"segments[{i}].version must be a positive integer", "invalid_value",
                                 f"segments.{i}.version")
            try:
                check_name(s["ref"])
            except NamedError as exc:
                raise NamedError(400, f"segments[{i}]: {exc.message}", exc.code, f"segments.{i}.ref") from None
            seg = self.resolve(tenant, s["ref"], version)
            if seg is None:
                which = f"`{s['ref']}`" + (f" version {version}" if version is not None else "")
                raise NamedError(400, f"segments[{i}]: no named segment {which} for this tenant (register it with "
                                 f"PUT /v1/segments/{s['ref']})", "unknown_segment_ref", f"segments.{i}.ref")
            out.append({"id": seg.name, "role": seg.role, "content": seg.content, "hash": seg.hash})
        return {**data, "segments": out}


class MemoryNames(NameStore):
    """Named segments in one process (a dict behind a lock)."""

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str], list[NamedSegment]] = {}

    def _register(self, tenant, name, role, content, h):
        with self._lock:
            versions = self._data.get((tenant, name))
            if versions is None:
                if sum(1 for t, _ in self._data if t == tenant) >= self.max_names:
                    raise NamedError(400, f"at most {self.max_names} named segments per tenant",
                                     "too_many_named_segments", "name")
                versions = self._data[(tenant, name)] = []
            if versions and versions[-1].hash == h:
                return versions[-1], False
            seg = NamedSegment(name, versions[-1].version + 1 if versions else 1, role, content, h)
            versions.append(seg)
            del versions[:-self.max_versions]
            return seg, True

    def resolve(self, tenant, name, version=None):
        with self._lock:
            versions = self._data.get((tenant, name)) or []
        if version is None:
            return versions[-1] if versions else None
        return next((v for v in versions if v.version == version), None)


class RedisNames(NameStore):
    """Named segments shared by every replica through Redis/Valkey (redis-py).

    Keys (one hash tag per tenant, so a tenant's keys share a Cluster slot):
    ``{<ns>:<tenant>}:names`` (a set of names), ``{<ns>:<tenant>}:name:<name>`` (a list of version
    records, JSON, oldest first). The tenant and the name are JSON-escaped into the key, so no
    tenant can address another's keys. Registration is an optimistic transaction (``WATCH``).
    """

    def __init__(self, url: str | None = None, *, client: Any = None, namespace: str = "promptc:segments", **kw: Any):
        super().__init__(**kw)
        import redis

        self._redis = redis
        try:
            self.client = client if client is not None else redis.Redis.from_url(url, decode_responses=True)
        except ValueError as exc:
            raise NamedError(400, f"bad Redis url {url!r}: {exc}", "invalid_value") from None
        self.namespace = namespace

    def _keys(self, tenant: str, name: str) -> tuple[str, str]:
        tag = "{" + json.dumps([self.namespace, tenant]).replace("{", "\\u007b").replace("}", "\\u007d") + "}"
        return f"{tag}:names", f"{tag}:name:{name}"

    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except self._redis.RedisError as exc:  # the shared store is down: the replica says so, never a 500
            raise NamedError(503, f"the named-segment store is unavailable: {exc}", "segment_store_unavailable") \
                from None

    def _register(self, tenant, name, role, content, h):
        return self._call(self._register_txn, tenant, name, role, content, h)

    def resolve(self, tenant, name, version=None):
        return self._call(self._resolve, tenant, name, version)

    def _register_txn(self, tenant, name, role, content, h):
        k_names, k_name = self._keys(tenant, name)

        def body(pipe: Any) -> tuple[NamedSegment, bool]:
            raw = pipe.lindex(k_name, -1)
            last = NamedSegment(**json.loads(raw)) if raw is not None else None
            if last is not None and last.hash == h:
                pipe.multi()
                return last, False
            if last is None and not pipe.sismember(k_names, name) and pipe.scard(k_names) >= self.max_names:
                raise NamedError(400, f"at most {self.max_names} named segments per tenant",
                                 "too_many_named_segments", "name")
            seg = NamedSegment(name, last.version + 1 if last else 1, role, content, h)
            pipe.multi()
            pipe.sadd(k_names, name)
            pipe.rpush(k_name, json.dumps(seg.__dict__))
            pipe.ltrim(k_name, -self.max_versions, -1)
            return seg, True

        return self.client.transaction(body, k_names, k_name, value_from_callable=True)

    def _resolve(self, tenant, name, version=None):
        _, k_name = self._keys(tenant, name)
        if version is None:
            raw = self.client.lindex(k_name, -1)
            return NamedSegment(**json.loads(raw)) if raw is not None else None
        for raw in self.client.lrange(k_name, 0, -1):
            seg = NamedSegment(**json.loads(raw))
            if seg.version == version:
                return seg
        return None


__all__ = ["MemoryNames", "NameStore", "NamedError", "NamedSegment", "RedisNames", "check_name"]
