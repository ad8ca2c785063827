"""Incremental detokenization with stop strings: O(1) work per generated token.

Decoding the whole output again after every token is O(n²) in the output length. Byte-level BPE
text is a concatenation of per-token byte strings, so the new text of a step is the decode of a
short window: the tokens since the last point where the text ended on a whole character (the
"read offset"), with the previous window kept as left context. This is the offset scheme of
Hugging Face text-generation-inference and vLLM. A window that ends inside a multi-byte character
decodes to a trailing U+FFFD; nothing is emitted until the character completes.

Stop strings are searched only in the text that can contain a new match (the new text plus the
last ``len(stop) - 1`` characters before it), and ``hold`` characters are held back from the
stream so that a stop string split across tokens is never partly emitted. Empty stop strings are
ignored: they can never be matched and must not shift the hold-back.
"""

from __future__ import annotations

from typing import Protocol, Sequence


class Decoder(Protocol):
    def decode(self, ids: Sequence[int]) -> str: ...


class TextStream:
    """Turns token ids into stream deltas; ``text`` is the text so far (final after :meth:`finish`)."""

    def __init__(self, tokenizer: Decoder, stops: Sequence[str] = ()):
        self.tokenizer = tokenizer
        self.stops = tuple(s for s in stops if s)
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.ids: list[int] = []
        self._prefix_offset = 0  # window start: left context, already decoded into the text
        self._read_offset = 0  # tokens before this are decoded into the text
        self._emitted: list[str] = []  # streamed chunks
        self._pending = ""  # decoded, not streamed yet (at most ``hold`` characters plus one step's text)
        self.stopped = False

    @property
    def text(self) -> str:
        return "".join(self._emitted) + self._pending

    def _window(self, end: int | None) -> str:
        return self.tokenizer.decode(self.ids[self._prefix_offset:end])

    def _decode_new(self, final: bool) -> None:
        prefix = self._window(self._read_offset) if self._read_offset > self._prefix_offset else ""
        full = self._window(None)
        if len(full) > len(prefix) and (final or not full.endswith("\ufffd")):
            self._pending += full[len(prefix):]
            self._prefix_offset, self._read_offset = self._read_offset, len(self.ids)
            # a new match ends in the new text, so it starts inside ``_pending`` (hold = longest stop - 1)
            cut = min((i for i in (self._pending.find(s) for s in self.stops) if i >= 0), default=-1)
            if cut >= 0:
                self._pending = self._pending[:cut]
                self.stopped = True

    def push(self, token_id: int) -> str:
        """Add a token; returns the text that became safe to stream (possibly empty)."""
        if self.stopped:
            return ""
        self.ids.append(token_id)
        self._decode_new(final=False)
        return self._flush(final=self.stopped)

    def finish(self) -> str:
        """Emit whatever is left (an incomplete character at the very end decodes to U+FFFD)."""
        if not self.stopped and self._read_offset < len(self.ids):
            self._decode_new(final=True)
        return self._flush(final=True)

    def _flush(self, final: bool) -> str:
        n = len(self._pending) if final else len(self._pending) - self.hold
        if n <= 0:
            return ""
        out, self._pending = self._pending[:n], self._pending[n:]
        self._emitted.append(out)
        return out
