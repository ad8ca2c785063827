"""Chat templates for local models: render a conversation and split it into per-segment pieces.

The conversation's text is split so that piece *i* is exactly what message *i* adds to the rendered
prompt (role header, content, end marker); concatenating the pieces gives the full rendering, and the
generation prompt (``<|im_start|>assistant\\n`` for ChatML) is the final, uncached suffix. Templates
come from GGUF metadata or a tokenizer config and run in a Jinja2 sandbox.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


class ChatTemplateError(ValueError):
    pass


def _raise(message):
    raise ChatTemplateError(message)


@dataclass(frozen=True)
class Rendered:
    pieces: list[str]
    generation_prompt: str

    @property
    def text(self) -> str:
        return "".join(self.pieces) + self.generation_prompt


class ChatTemplate:
    """A sandboxed chat template with the prefix-splitting that per-segment caching needs."""

    def __init__(self, source: str | None, bos_token: str = "", eos_token: str = ""):
        self.source = source or CHATML
        self.env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
        self.env.globals["raise_exception"] = _raise
        self.template = self.env.from_string(self.source)
        self.bos_token, self.eos_token = bos_token, eos_token
        self.digest = "sha256:" + hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def render(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        return self.template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                    bos_token=self.bos_token, eos_token=self.eos_token)

    def split(self, messages: list[dict], add_generation_prompt: bool = True) -> Rendered:
        """Per-message pieces whose concatenation is the rendered conversation.

        Piece *i* is what rendering ``messages[:i+1]`` adds to rendering ``messages[:i]``. Rendering
        every prefix costs O(n²) for n messages, so the conversation is rendered once while
        tracking which message the template's loop is on (:meth:`_split_tracked`), and the pieces
        are checked against real prefix renders at O(log n) prefix lengths (1–4, the powers of
        two, n−1, n: O(n) work in all). A template whose pieces don't pass (one that looks
        ahead, or iterates the messages twice) is split the exact, quadratic way.
        """
        n = len(messages)
        pieces = self._split_tracked(messages) if n > 4 else None
        if pieces is not None and not all(self.render(messages[:k]) == "".join(pieces[:k])
                                          for k in _sample_prefixes(n)):
            pieces = None
        if pieces is None:
            pieces = self._split_exact(messages)
        prev = "".join(pieces)
        gen = self.render(messages, add_generation_prompt=True) if add_generation_prompt else prev
        if not gen.startswith(prev):
            raise ChatTemplateError("the generation prompt changes earlier text")
        return Rendered(pieces, gen[len(prev):])

    def _split_exact(self, messages: list[dict]) -> list[str]:
        pieces, prev = [], ""
        for i in range(len(messages)):
            full = self.render(messages[: i + 1])
            if not full.startswith(prev):
                raise ChatTemplateError(f"the chat template re-renders earlier messages when message {i} is added; "
                                        "per-segment caching needs a prefix-stable template")
            pieces.append(full[len(prev):])
            prev = full
        return pieces

    def _split_tracked(self, messages: list[dict]) -> list[str] | None:
        """One render; each output chunk goes to the message the loop last took from ``messages``."""
        tracker = _Tracker()
        tracked = _TrackedList(messages, tracker, 0)
        pieces = [""] * len(messages)
        try:
            for chunk in self.template.generate(messages=tracked, add_generation_prompt=False,
                                                bos_token=self.bos_token, eos_token=self.eos_token):
                pieces[tracker.pos] += chunk
        except Exception:  # noqa: BLE001 - the exact split reports the template's own error
            return None
        return pieces


def _sample_prefixes(n: int) -> list[int]:
    ks = {1, 2, 3, 4, n - 1, n}
    k = 8
    while k < n:
        ks.add(k)
        k *= 2
    return sorted(x for x in ks if 1 <= x <= n)


class _Tracker:
    """The index of the message a loop over the conversation took last."""

    def __init__(self) -> None:
        self.pos = 0


class _TrackedList(list):
    """The messages, reporting iteration to a :class:`_Tracker` (slices keep reporting, offset)."""

    def __init__(self, items, tracker: _Tracker, offset: int):
        super().__init__(items)
        self._tracker, self._offset = tracker, offset

    def __iter__(self):
        for i in range(len(self)):
            self._tracker.pos = self._offset + i
            yield list.__getitem__(self, i)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1:
                return _TrackedList(list.__getitem__(self, key), self._tracker, self._offset + start)
        return list.__getitem__(self, key)
