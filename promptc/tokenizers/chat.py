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
        """Per-message pieces whose concatenation is the rendered conversation."""
        pieces, prev = [], ""
        for i in range(len(messages)):
            full = self.render(messages[: i + 1])
            if not full.startswith(prev):
                raise ChatTemplateError(f"the chat template re-renders earlier messages when message {i} is added; "
                                        "per-segment caching needs a prefix-stable template")
            pieces.append(full[len(prev):])
            prev = full
        gen = self.render(messages, add_generation_prompt=True) if add_generation_prompt else prev
        if not gen.startswith(prev):
            raise ChatTemplateError("the generation prompt changes earlier text")
        return Rendered(pieces, gen[len(prev):])
