"""The engine's request and result types (shared by the runner, the prefill jobs and the scheduler)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from promptc.core.engine_errors import DeadlineExceeded, QueueFull  # noqa: F401  (the scheduler raises them)
from promptc.core.hashing import segment_hash
from promptc.engine.kvtree import Node
from promptc.engine.model import KVCache


@dataclass(frozen=True)
class SegmentIn:
    """A cacheable segment of a request: its id, hash, role and content."""

    id: str
    hash: str
    role: str
    content: str

    @classmethod
    def of(cls, id_: str, role: str, content: str) -> "SegmentIn":
        return cls(id_, segment_hash(role, content), role, content)


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    #: vLLM's ``ignore_eos``: an end-of-sequence token does not end the answer (a benchmark's fixed length)
    ignore_eos: bool = False


@dataclass
class SegmentStatus:
    id: str
    hash: str
    tokens: int
    status: str  # "hit" | "computed"
    cached_after: bool  # stored in the tree after this request

    def to_json(self) -> dict:
        return {"id": self.id, "hash": self.hash, "tokens": self.tokens, "status": self.status,
                "cached": self.cached_after}


@dataclass
class Prefill:
    """The state after the prompt: a KV buffer, the next-token logits and what the tree supplied."""

    cache: KVCache | None
    length: int
    logits: torch.Tensor
    statuses: list[SegmentStatus]
    cached_tokens: int
    computed_tokens: int
    prompt_tokens: int
    held: list[Node] = field(default_factory=list)


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    finish_reason: str
    prompt_tokens: int
    cached_tokens: int
    computed_tokens: int
    statuses: list[SegmentStatus]


def openai_usage(c: "Completion") -> dict:
    """OpenAI-shaped usage with promptc's cache fields (server responses and embedded runs alike)."""
    return {"prompt_tokens": c.prompt_tokens, "completion_tokens": len(c.token_ids),
            "total_tokens": c.prompt_tokens + len(c.token_ids), "cached_prefix_tokens": c.cached_tokens,
            "prompt_tokens_details": {"cached_tokens": c.cached_tokens}}


@dataclass
class TokenEvent:
    """One streamed step: ``text`` is the new text since the previous event."""

    text: str
    token_id: int | None
    finish_reason: str | None = None
    completion: Completion | None = None

