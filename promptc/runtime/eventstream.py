"""AWS event stream framing (``application/vnd.amazon.eventstream``), as Bedrock's ConverseStream sends it.

Each message is binary: a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes,
all big-endian u32), the headers, the payload, and a CRC32 of everything before it. A header is a
1-byte name length, the name, a 1-byte value type and the value (type 7 = a string with a u16
length). Bedrock puts the event name in ``:event-type`` (``:exception-type`` for errors) and a JSON
payload after it.

:class:`Decoder` turns bytes (in any chunking) into :class:`Message` objects and checks both CRCs;
:func:`encode` builds a message (the simulator uses it). :func:`events` and :func:`aevents` give the
``(event, data)`` pairs a :class:`~promptc.runtime.providers.base.StreamState` consumes, with
exceptions as ``exception:<type>``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterable, Iterator

from promptc.runtime.errors import ProviderError

_PRELUDE = 12
#: Value types that carry a fixed number of bytes (bool true/false carry none).
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


class FrameError(ProviderError):
    """An event-stream frame that is truncated or fails its checksum."""

    code = "E522"

    def __init__(self, message: str):
        super().__init__("bedrock", None, f"corrupt event stream: {message}")


@dataclass(frozen=True)
class Message:
    """One decoded event-stream message: its headers (strings, or raw bytes for other types) and payload."""

    headers: dict[str, object] = field(default_factory=dict)
    payload: bytes = b""

    @property
    def event(self) -> str | None:
        """``event name`` for events, ``exception:<type>`` for modeled exceptions, ``error:<code>`` otherwise."""
        kind = self.headers.get(":message-type", "event")
        if kind == "exception":
            return f"exception:{self.headers.get(':exception-type')}"
        if kind == "error":
            return f"error:{self.headers.get(':error-code')}"
        value = self.headers.get(":event-type")
        return value if isinstance(value, str) else None


def encode(headers: dict[str, str], payload: bytes) -> bytes:
    """One message with string-valued ``headers`` and ``payload``."""
    hb = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        hb += struct.pack(">B", len(n)) + n + struct.pack(">BH", 7, len(v)) + v
    total = _PRELUDE + len(hb) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + hb + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _headers(raw: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    i = 0
    while i < len(raw):
        n = raw[i]
        name = raw[i + 1:i + 1 + n].decode()
        i += 1 + n
        kind = raw[i]
        i += 1
        if kind in _FIXED:
            size = _FIXED[kind]
            value: object = {0: True, 1: False}.get(kind, raw[i:i + size])
        elif kind in (6, 7):
            (size,) = struct.unpack(">H", raw[i:i + 2])
            i += 2
            value = raw[i:i + size].decode() if kind == 7 else raw[i:i + size]
        else:
            raise FrameError(f"unknown header value type {kind}")
        i += size
        out[name] = value
    return out


class Decoder:
    """Feed bytes with :meth:`feed`; it returns the messages completed so far."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[Message]:
        self.buf += data
        out: list[Message] = []
        while len(self.buf) >= _PRELUDE:
            total, hlen, crc = struct.unpack(">III", self.buf[:_PRELUDE])
            if zlib.crc32(self.buf[:8]) != crc:
                raise FrameError("prelude checksum mismatch")
            if total < _PRELUDE + 4 + hlen:
                raise FrameError(f"message length {total} is shorter than its headers")
            if len(self.buf) < total:
                break
            frame, self.buf = self.buf[:total], self.buf[total:]
            (msg_crc,) = struct.unpack(">I", frame[-4:])
            if zlib.crc32(frame[:-4]) != msg_crc:
                raise FrameError("message checksum mismatch")
            out.append(Message(_headers(frame[_PRELUDE:_PRELUDE + hlen]), frame[_PRELUDE + hlen:-4]))
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message still buffered (non-zero when a stream stopped mid-frame)."""
        return len(self.buf)


def events(chunks: Iterable[bytes]) -> Iterator[tuple[str | None, str]]:
    """``(event, JSON payload)`` pairs from a byte stream."""
    dec = Decoder()
    for chunk in chunks:
        for msg in dec.feed(chunk):
            yield msg.event, msg.payload.decode("utf-8")


async def aevents(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[str | None, str]]:
    """Async :func:`events`."""
    dec = Decoder()
    async for chunk in chunks:
        for msg in dec.feed(chunk):
            yield msg.event, msg.payload.decode("utf-8")
