"""The step plan: the scheduler decides, the engine executes.

A scheduler step (:mod:`promptc.engine.scheduler`) decides which prompt chunks are computed and which
requests decode; it hands that decision to :meth:`promptc.engine.runner.Engine.step` as a
:class:`StepPlan` of plain data (token ids, KV buffers, positions) and gets a :class:`StepResult`
back. Only the engine touches the model and its compute lock; the scheduler and the prefill jobs
never reach into it (nano-vllm's scheduler/model-runner split).

This module also holds the :class:`EngineCore` protocol: what the scheduler, the prefill jobs and the
metrics read of an engine. They annotate with it instead of importing the runner, so the engine's
modules import one way (runner → scheduler, prefill, metrics → steps, model, request) with no
type-only cycle back to the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import torch

if TYPE_CHECKING:  # annotations only; neither module imports the runner, the scheduler or this one's users
    from promptc.engine.kvtree import KVTree
    from promptc.engine.model import KVCache, KVPool
    from promptc.engine.request import GenerationParams, Prefill


@dataclass(frozen=True)
class PrefillChunk:
    """Compute ``tokens`` into ``cache`` from position ``start`` and return the final hidden states of the
    chunk-relative ``positions``. With ``logits``: also the next-token logits of the last of those hidden
    states, or of ``last_hidden`` when ``tokens`` is empty (a prompt whose every token was cached)."""

    tokens: tuple[int, ...]
    cache: "KVCache"
    start: int
    positions: tuple[int, ...]
    logits: bool = False
    last_hidden: torch.Tensor | None = None


@dataclass(frozen=True)
class ChunkResult:
    """What one :class:`PrefillChunk` produced, or the error that computing it raised (that request fails,
    the others of the step go on)."""

    hidden: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class DecodeBatch:
    """One new token for each row: ``tokens[i]`` at ``positions[i]`` of ``caches[i]`` (one forward pass)."""

    tokens: tuple[int, ...]
    caches: tuple["KVCache", ...]
    positions: tuple[int, ...]


@dataclass(frozen=True)
class StepPlan:
    """What one step runs: prompt chunks, in order, then a decode batch."""

    chunks: tuple[PrefillChunk, ...] = ()
    decode: DecodeBatch | None = None


@dataclass(frozen=True)
class StepResult:
    chunks: tuple[ChunkResult, ...] = ()
    logits: torch.Tensor | None = None  # (rows, vocab) of the decode batch
    picks: tuple[int, ...] = ()  # each decode row's argmax (its greedy next token)


class EngineCore(Protocol):
    """The parts of an engine that its scheduler, prefill jobs and metrics use."""

    fingerprint: str
    tree: "KVTree"
    pool: "KVPool"
    weights: Any
    tokenizer: Any
    metrics: Any
    scheduler: Any

    def step(self, plan: StepPlan) -> StepResult: ...

    def inflight_register(self, job: Any, keys: Sequence[tuple]) -> None: ...

    def inflight_unregister(self, job: Any, keys: Sequence[tuple]) -> None: ...

    def inflight_blocks(self, job: Any) -> bool: ...

    def release(self, prefill: "Prefill") -> None: ...

    def sample(self, logits: torch.Tensor, params: "GenerationParams", gen: torch.Generator | None) -> int: ...
