"""The engine's request and result types (shared by the runner, the prefill jobs and the scheduler)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

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


class QueueFull(RuntimeError):
    """E711: the scheduler's waiting queue is at its bound; the request was not queued (the server
    answers 429 with ``retry-after``)."""

    code = "E711"

    def __init__(self, waiting: int, limit: int):
        self.waiting, self.limit = waiting, limit
        super().__init__(f"E711: the engine's request queue is full ({waiting} requests waiting, limit {limit}); "
                         "retry later")


class DeadlineExceeded(TimeoutError):
    """E712: the request ran past its deadline; the scheduler cancelled it and freed its resources."""

    code = "E712"

    def __init__(self, timeout_s: float | None, stage: str):
        self.timeout_s, self.stage = timeout_s, stage
        within = f" of {timeout_s:g} s" if timeout_s is not None else ""
        super().__init__(f"E712: the request ran past its deadline{within} while {stage}; it was cancelled")

