"""The engine: tokenize a request per segment, reuse cached KV from the tree, compute the rest, generate.

Token contract (DESIGN.md §3.4): the conversation — segments first, then plain messages — is
rendered through the model's chat template and split per message (:mod:`promptc.tokenizers.chat`);
each piece is tokenized on its own, and the request's token sequence is the concatenation of those
per-piece ids, on cold and warm paths alike. With ChatML every piece starts with the special token
``<|im_start|>``, so piece boundaries are always token boundaries.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch

from promptc.core.hashing import segment_hash
from promptc.engine.kvtree import KVTree, Node
from promptc.engine.model import KVCache, KVPool, Transformer
from promptc.engine.tokenize import RequestTokenizer, TokenCache, disable_shared_word_cache
from promptc.engine.weights import LoadedWeights, load_weights
from promptc.tokenizers.chat import ChatTemplate

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


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


class Engine:
    """A model plus a KV tree. Thread-safe: model calls are serialized, tree operations are locked."""

    def __init__(self, model_path: str | None = None, *, dtype: str = "float32", device: str | None = None,
                 budget_bytes: int = 2 << 30, ttl_s: float | None = None, weights: LoadedWeights | None = None,
                 token_cache_bytes: int = 64 << 20):
        self.weights = weights or load_weights(model_path)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.dtype_name = {v: k for k, v in DTYPES.items() if len(k) > 4}[DTYPES[dtype]]
        self.model = Transformer(self.weights, DTYPES[dtype], device)
        self.tokenizer = self.weights.tokenizer
        self.chat = ChatTemplate(self.weights.chat_template)
        self.tree = KVTree(budget_bytes, ttl_s)
        self.pool = KVPool(self.weights.config, self.model.dtype, self.model.device)
        self.model_name = self.weights.name
        h = hashlib.sha256()
        for part in (self.weights.weights_digest, self.dtype_name, self.weights.config.rope_digest(),
                     self.tokenizer.digest, self.chat.digest):
            h.update(part.encode())
            h.update(b"|")
        self.fingerprint = "sha256:" + h.hexdigest()
        self._compute = threading.Lock()
        # Tokenization: per-tenant, byte-bounded piece cache; special tokens in content stay text
        # (promptc.engine.tokenize, docs/security.md).
        disable_shared_word_cache(self.tokenizer)
        self.token_cache = TokenCache(token_cache_bytes, max_entry_tokens=self.weights.config.max_seq_len)
        self.request_tokenizer = RequestTokenizer(self.tokenizer, self.chat, self.token_cache)

    # -- tokenization ---------------------------------------------------------------------------
    def _ids(self, piece: str, tenant: str | None = None) -> tuple[int, ...]:
        """Token ids of one rendered piece; cached only within ``tenant`` (None: not cached)."""
        return self.request_tokenizer.piece_ids(piece, tenant)

    def tokenize(self, segments: Sequence[SegmentIn], messages: Sequence[dict] = (),
                 add_generation_prompt: bool = True, *, tenant: str | None = None,
                 ) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]], tuple[int, ...]]:
        """Per-segment ids, per-message ids and the generation-prompt ids of a conversation.

        Pieces are cached per ``tenant`` (a hit never reveals another tenant's text); special-token
        strings inside content are encoded as text. Safe to call from a worker thread.
        """
        return self.request_tokenizer.tokenize(segments, messages, add_generation_prompt, tenant)

    # -- prefill ---------------------------------------------------------------------------------
    def prefill(self, tenant: str, segments: Sequence[SegmentIn], messages: Sequence[dict] = (), *,
                extra_capacity: int = 0, use_cache: bool = True, add_generation_prompt: bool = True) -> Prefill:
        """Reuse the deepest cached path, compute and cache the remaining segments, then the suffix.

        The caller owns ``prefill.held`` references and must :meth:`release` them.
        """
        seg_ids, msg_ids, gen_ids = self.tokenize(segments, messages, add_generation_prompt, tenant=tenant)
        suffix = [t for ids in msg_ids for t in ids] + list(gen_ids)
        prompt_tokens = sum(len(i) for i in seg_ids) + len(suffix)
        capacity = prompt_tokens + extra_capacity
        if capacity > self.weights.config.max_seq_len:
            raise ValueError(f"prompt of {prompt_tokens} tokens plus {extra_capacity} new tokens exceeds the "
                             f"context length {self.weights.config.max_seq_len}")
        keys = [(s.hash, ids) for s, ids in zip(segments, seg_ids)]
        path = self.tree.lookup(tenant, self.fingerprint, keys) if use_cache else []
        held = list(path)
        try:
            cache = self.pool.acquire(max(capacity, 1))
            pos = 0
            logits = None
            statuses: list[SegmentStatus] = []
            for node, seg in zip(path, segments):
                T = len(node.token_ids)
                cache.k[:, :, pos:pos + T] = node.k
                cache.v[:, :, pos:pos + T] = node.v
                pos += T
                logits = node.last_logits
                statuses.append(SegmentStatus(seg.id, seg.hash, T, "hit", True))
            cached_tokens = pos
            # Everything not cached is computed in ONE forward pass (fewer passes over the weights);
            # logits are taken only where a segment ends (for its node) and at the very end.
            todo = list(zip(segments, seg_ids))[len(path):]
            chunk = [t for _, ids in todo for t in ids] + suffix
            if chunk:
                ends, off = [], 0
                for _, ids in todo:
                    off += len(ids)
                    ends.append(off - 1)
                with self._compute:
                    out = self.model.forward(torch.tensor(chunk), cache, pos, positions=ends + [len(chunk) - 1])
                logits = out[-1]
            parent = path[-1] if path else self.tree.root(tenant, self.fingerprint)
            inserting = use_cache
            for i, (seg, ids) in enumerate(todo):
                T = len(ids)
                stored = False
                if inserting and T > 0:
                    node = self.tree.insert(parent, seg.hash, ids, cache.k[:, :, pos:pos + T].clone(),
                                            cache.v[:, :, pos:pos + T].clone(), out[i].clone())
                    if node is None:
                        inserting = False  # a child cannot live without its parent in the tree
                    else:
                        held.append(node)
                        parent = node
                        stored = True
                elif T == 0:
                    inserting = False  # an empty segment has no last position to key logits on
                pos += T
                statuses.append(SegmentStatus(seg.id, seg.hash, T, "computed", stored))
            pos += len(suffix)
            if logits is None:
                raise ValueError("empty prompt")
            computed = prompt_tokens - cached_tokens
            self.tree.record(tenant, len(path), len(segments) - len(path), cached_tokens, computed)
            return Prefill(cache, pos, logits, statuses, cached_tokens, computed, prompt_tokens, held)
        except BaseException:
            self.tree.release(held)
            if "cache" in locals():
                self.pool.release(cache)
            raise

    def release(self, prefill: Prefill) -> None:
        """Release the request's tree references and return its KV buffer to the pool (once)."""
        if prefill.held:
            self.tree.release(prefill.held)
            prefill.held = []
        if prefill.cache is not None:
            self.pool.release(prefill.cache)
            prefill.cache = None

    def warm(self, tenant: str, segments: Sequence[SegmentIn]) -> list[SegmentStatus]:
        """Compute and cache a segment path without generating (``POST /v1/cache/warm``)."""
        p = self.prefill(tenant, segments, (), add_generation_prompt=False)
        self.release(p)
        return p.statuses

    # -- generation --------------------------------------------------------------------------------
    def _sample(self, logits: torch.Tensor, params: GenerationParams, gen: torch.Generator | None) -> int:
        if params.temperature <= 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits.float() / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_p, idx = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < params.top_p
            keep[0] = True
            probs = torch.zeros_like(probs).scatter(0, idx[keep], sorted_p[keep])
            probs = probs / probs.sum()
        return int(torch.multinomial(probs.cpu(), 1, generator=gen))

    def stream(self, tenant: str, segments: Sequence[SegmentIn], messages: Sequence[dict] = (),
               params: GenerationParams = GenerationParams(), use_cache: bool = True) -> Iterator[TokenEvent]:
        """Generate token by token. Closing the iterator early releases the tree references."""
        prefill = self.prefill(tenant, segments, messages, extra_capacity=params.max_tokens, use_cache=use_cache)
        try:
            gen = None
            if params.temperature > 0:
                gen = torch.Generator().manual_seed(params.seed if params.seed is not None else 0)
            eos = set(self.weights.eos_token_ids)
            out_ids: list[int] = []
            text, emitted = "", 0
            hold = max((len(s) for s in params.stop), default=1) - 1
            logits, pos = prefill.logits, prefill.length
            finish = "length"
            for _ in range(params.max_tokens):
                tok = self._sample(logits, params, gen)
                if tok in eos:
                    finish = "stop"
                    break
                out_ids.append(tok)
                text = self.tokenizer.decode(out_ids)
                cut = min((text.find(s) for s in params.stop if s and s in text), default=-1)
                if cut >= 0:
                    text = text[:cut]
                    finish = "stop"
                    break
                safe = len(text) - hold
                if text.endswith("\ufffd"):
                    safe = min(safe, len(text) - 1)
                if safe > emitted:
                    yield TokenEvent(text[emitted:safe], tok)
                    emitted = safe
                if len(out_ids) == params.max_tokens:
                    break
                with self._compute:
                    logits = self.model.forward(torch.tensor([tok]), prefill.cache, pos)
                pos += 1
            if len(text) > emitted:
                yield TokenEvent(text[emitted:], None)
            completion = Completion(text, out_ids, finish, prefill.prompt_tokens, prefill.cached_tokens,
                                    prefill.computed_tokens, prefill.statuses)
            yield TokenEvent("", None, finish, completion)
        finally:
            self.release(prefill)

    def complete(self, tenant: str, segments: Sequence[SegmentIn], messages: Sequence[dict] = (),
                 params: GenerationParams = GenerationParams(), use_cache: bool = True) -> Completion:
        last = None
        for ev in self.stream(tenant, segments, messages, params, use_cache):
            last = ev
        assert last is not None and last.completion is not None
        return last.completion

    # -- reference paths (tests, benchmarks) -----------------------------------------------------
    def cold_logits(self, segments: Sequence[SegmentIn], messages: Sequence[dict] = ()) -> torch.Tensor:
        """Next-token logits from one forward pass over the whole canonical token sequence, no tree."""
        seg_ids, msg_ids, gen_ids = self.tokenize(segments, messages)
        ids = [t for chunk in seg_ids + msg_ids for t in chunk] + list(gen_ids)
        cache = KVCache.allocate(self.weights.config, len(ids), self.model.dtype, self.model.device)
        with self._compute:
            return self.model.forward(torch.tensor(ids), cache, 0)
