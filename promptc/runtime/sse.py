"""Server-sent events: split a byte/line stream into ``(event, data)`` pairs.

Hand-written because the format is ten lines of spec and httpx has no parser of its own; it
follows the WHATWG rules the providers rely on (``event:``, multi-line ``data:``, comments, a blank
line ends an event).
"""

from __future__ import annotations

from typing import AsyncIterator, Iterable, Iterator


class SSEDecoder:
    """Feed lines (without their newline); completed events come back from :meth:`line`."""

    def __init__(self) -> None:
        self.event: str | None = None
        self.data: list[str] = []

    def line(self, line: str) -> tuple[str | None, str] | None:
        if line == "":
            if not self.data:
                self.event = None
                return None
            out = (self.event, "\n".join(self.data))
            self.event, self.data = None, []
            return out
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None


def events(lines: Iterable[str]) -> Iterator[tuple[str | None, str]]:
    dec = SSEDecoder()
    for line in lines:
        ev = dec.line(line.rstrip("\r"))
        if ev is not None:
            yield ev


async def aevents(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    dec = SSEDecoder()
    async for line in lines:
        ev = dec.line(line.rstrip("\r"))
        if ev is not None:
            yield ev
