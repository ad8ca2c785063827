"""Segment hashes and the prefix-hash chain (DESIGN.md §3.2).

``hash = "sha256:" + hex(sha256(canonical segment bytes))`` where the canonical bytes are the
canonical JSON of ``{"content": ..., "role": ...}``: exactly what a server receives in a
``segments[]`` entry, so it can recompute and verify every hash.
``prefix_hash[i] = "sha256:" + hex(sha256(prefix_hash[i-1] + hash[i]))`` with an empty string
before the first segment, so equal prefix hashes mean equal prefixes.
"""

from __future__ import annotations

import hashlib

from promptc.core.canonical import canonical_json


def sha256_text(text: str) -> str:
    """``sha256:<hex>`` of a text's UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def segment_bytes(role: str, content: str) -> bytes:
    """The canonical bytes a segment hash is taken over."""
    return canonical_json({"content": content, "role": role}).encode("utf-8")


def segment_hash(role: str, content: str) -> str:
    """The hash of one segment's role and content."""
    return "sha256:" + hashlib.sha256(segment_bytes(role, content)).hexdigest()


def chain(parent_prefix_hash: str | None, hash_: str) -> str:
    """The prefix hash of a segment whose predecessor's prefix hash is ``parent_prefix_hash``."""
    return "sha256:" + hashlib.sha256(((parent_prefix_hash or "") + hash_).encode("ascii")).hexdigest()


def entry_hash(entry) -> str:
    """Hash of one append-only entry (a memory paragraph, a tool schema, a history message)."""
    text = entry if isinstance(entry, str) else canonical_json(entry)
    return sha256_text(text)
