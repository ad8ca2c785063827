"""Reading a provider's answer as hostile input: size bounds, the request's deadline across reads, JSON
that is not a reply, and key redaction of every provider-supplied string.

Sans-IO: :class:`BodyReader` is fed the raw (still compressed) bytes as they arrive and returns the
decoded ones; :class:`LineSplitter` turns decoded bytes into SSE lines of bounded length;
:func:`parse_reply` turns a whole body into the JSON object a provider sends; :func:`scrub` replaces the
API key in every string of a decoded JSON value. The clients (sync and async) drive them.

Decompression is done here rather than by httpx because httpx inflates a whole network chunk at once
(a 64 KiB chunk of a gzip bomb is 64 MiB); :mod:`zlib`'s ``max_length`` bounds every step.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable

from promptc.runtime.errors import ProviderResponseError, ProviderUnavailable, ResponseTooLarge

#: Encodings a client accepts (sent as ``accept-encoding``); anything else in the answer is refused.
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True)
class Bounds:
    """Limits on one answer: bytes on the wire, bytes once decompressed, one SSE line."""

    max_wire_bytes: int = 64 * 1024 * 1024
    max_body_bytes: int = 64 * 1024 * 1024
    max_line_bytes: int = 4 * 1024 * 1024


class BodyReader:
    """Feed raw chunks (:meth:`feed`), get decoded bytes back; raises :class:`ResponseTooLarge` (E524) past a
    bound and :class:`ProviderUnavailable` (E506) once ``deadline`` (a ``clock()`` value) has passed."""

    def __init__(self, provider: str, encoding: str | None, bounds: Bounds, deadline: float,
                 clock: Callable[[], float] = time.monotonic):
        self.provider, self.bounds, self.deadline, self.clock = provider, bounds, deadline, clock
        self.wire = 0
        self.body = 0
        enc = (encoding or "identity").strip().lower()
        if enc in ("identity", ""):
            self._inflate = None
        elif enc in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._inflate = zlib.decompressobj()
        else:
            raise ProviderResponseError(provider, None, f"the answer uses content-encoding {enc[:40]!r}, "
                                        f"which was not asked for (accept-encoding: {ACCEPT_ENCODING})")

    def check_deadline(self) -> None:
        if self.clock() > self.deadline:
            raise ProviderUnavailable(self.provider, None, "the request's deadline passed while the answer was "
                                      f"still arriving ({self.wire} bytes received)", retryable=False)

    def _grow(self, n: int) -> None:
        self.body += n
        if self.body > self.bounds.max_body_bytes:
            raise ResponseTooLarge(self.provider, None, f"the answer is larger than {self.bounds.max_body_bytes} "
                                   "bytes once decompressed")

    def feed(self, raw: bytes) -> bytes:
        self.wire += len(raw)
        if self.wire > self.bounds.max_wire_bytes:
            raise ResponseTooLarge(self.provider, None, f"the answer is larger than {self.bounds.max_wire_bytes} "
                                   "bytes on the wire")
        self.check_deadline()
        if self._inflate is None:
            self._grow(len(raw))
            return raw
        out: list[bytes] = []
        data = raw
        try:
            while data:
                room = self.bounds.max_body_bytes - self.body + 1
                piece = self._inflate.decompress(data, room)
                self._grow(len(piece))
                out.append(piece)
                data = self._inflate.unconsumed_tail
        except zlib.error as exc:
            raise ProviderResponseError(self.provider, None, f"the answer's compressed body is corrupt: {exc}") from None
        return b"".join(out)


class LineSplitter:
    """Decoded bytes in, complete text lines out (``\\n``, ``\\r\\n`` or ``\\r`` end a line); a line longer
    than ``max_line_bytes`` raises :class:`ResponseTooLarge` before it is buffered further."""

    def __init__(self, provider: str, max_line_bytes: int):
        self.provider, self.max = provider, max_line_bytes
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self.buf += data
        lines: list[str] = []
        start = 0
        i = 0
        n = len(self.buf)
        while i < n:
            c = self.buf[i]
            if c == 0x0A or c == 0x0D:
                if c == 0x0D and i + 1 == n:
                    break  # a CR at the end: wait for a possible LF
                lines.append(self.buf[start:i].decode("utf-8", "replace"))
                if c == 0x0D and self.buf[i + 1] == 0x0A:
                    i += 1
                start = i + 1
            i += 1
        del self.buf[:start]
        if len(self.buf) > self.max:
            raise ResponseTooLarge(self.provider, None, f"a stream line is longer than {self.max} bytes")
        return lines

    def close(self) -> list[str]:
        rest = self.buf.decode("utf-8", "replace").rstrip("\r")
        self.buf.clear()
        return [rest] if rest else []


def parse_reply(provider: str, status: int, body: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx answer; anything else (not JSON, nested too deep for the parser, ``null``,
    a list, ``{}``) is :class:`ProviderResponseError` (E509)."""
    if not body.strip():
        raise ProviderResponseError(provider, status, "the answer has an empty body")
    try:
        obj = json.loads(body)
    except RecursionError:
        raise ProviderResponseError(provider, status, "the answer's JSON is nested too deeply") from None
    except ValueError:
        raise ProviderResponseError(provider, status, f"the answer is not JSON ({len(body)} bytes)") from None
    if not isinstance(obj, dict):
        raise ProviderResponseError(provider, status, f"the answer is JSON {type(obj).__name__}, not an object")
    if not obj:
        raise ProviderResponseError(provider, status, "the answer is an empty JSON object")
    return obj


#: Shorter "keys" (test placeholders such as ``"k"``) are not searched for: they would mangle every word.
MIN_SECRET = 8


def scrub(value: Any, key: str | None) -> Any:
    """``value`` (decoded JSON) with ``key`` replaced by ``***`` in every string, keys included. Iterative,
    so a deeply nested answer cannot exhaust the stack."""
    if not key or len(key) < MIN_SECRET:
        return value
    if isinstance(value, str):
        return value.replace(key, "***")
    if not isinstance(value, (dict, list)):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while stack:
        parent, slot, node = stack.pop()
        if isinstance(node, dict):
            new: Any = {}
            parent[slot] = new
            for k, v in node.items():
                k2 = k.replace(key, "***") if isinstance(k, str) else k
                new[k2] = v
                stack.append((new, k2, v))
        elif isinstance(node, list):
            new = list(node)
            parent[slot] = new
            for i, v in enumerate(node):
                stack.append((new, i, v))
        elif isinstance(node, str):
            parent[slot] = node.replace(key, "***")
    return root[0]
