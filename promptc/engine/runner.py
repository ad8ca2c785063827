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
from typing import Callable, Iterator, Sequence, TypeVar

import torch

from promptc.engine.kvtree import KVTree
from promptc.engine.metrics import EngineMetrics
from promptc.engine.model import KVCache, KVPool, Transformer
from promptc.engine.prefill import PrefillJob
from promptc.engine.request import (Completion, DeadlineExceeded, GenerationParams, Prefill,  # noqa: F401
                                    QueueFull, SegmentIn, SegmentStatus, TokenEvent, openai_usage)
from promptc.engine.scheduler import Generation, Scheduler
from promptc.engine.steps import ChunkResult, StepPlan, StepResult
from promptc.engine.tokenize import RequestTokenizer, TokenCache, disable_shared_word_cache
from promptc.engine.weights import LoadedWeights, load_weights
from promptc.tokenizers.chat import ChatTemplate

T = TypeVar("T")

# accepted spellings → weight mode (promptc.engine.model.MODES); fp32 is the exact reference
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16", "int8": "int8", "int4": "int4"}
# The mode `promptc serve`, `demo` and `run --embedded` use without --dtype (``Engine(dtype=None)``): the
# fastest single-stream decode on a CPU, and within the accuracy bound docs/engine.md states (measured by
# bench/engine.py against fp32). int4's kernel is CPU-only, so on a GPU the default is bfloat16.
SERVING_DTYPE = {"cpu": "int4", "cuda": "bfloat16"}


def serving_dtype(device: str) -> str:
    """The default weight mode on ``device`` (``cpu``, ``cuda``, ``cuda:1``…)."""
    return SERVING_DTYPE.get(device.split(":")[0], "bfloat16")


class Engine:
    """A model, a KV tree and the scheduler thread that batches concurrent requests.

    Thread-safe. ``stream``/``complete``/``submit`` go through the scheduler (continuous batching);
    ``prefill``/``cold_logits`` run whole on the model thread and return when done (tests, benchmarks);
    :meth:`run_on_model_thread` runs any other torch work there.
    Model calls are serialized by one lock; tree operations are locked by the tree.

    ``max_batch`` bounds the requests admitted at once, ``chunk_tokens`` the prompt tokens computed
    between two decode steps, and ``idle_exit_s`` how long the model thread waits for work before it
    exits (freeing its OpenMP threads; the next request starts it again).
    """

    def __init__(self, model_path: str | None = None, *, dtype: str | None = "float32", device: str | None = None,
                 budget_bytes: int = 2 << 30, ttl_s: float | None = None, weights: LoadedWeights | None = None,
                 token_cache_bytes: int = 64 << 20, max_batch: int = 16, chunk_tokens: int = 256,
                 idle_exit_s: float = 2.0):
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype is None:  # the CLI's default: the serving mode for this device
            dtype = serving_dtype(str(device))
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype `{dtype}` (one of {', '.join(DTYPES)})")
        self.dtype_name = DTYPES[dtype]
        # every torch computation runs on the model thread (the scheduler's; see promptc.engine.scheduler),
        # building the model included
        self.scheduler = Scheduler(self, max_batch=max_batch, chunk_tokens=chunk_tokens, idle_exit_s=idle_exit_s)
        self.weights = weights or self.scheduler.call(lambda: load_weights(model_path))
        self.model = self.scheduler.call(lambda: Transformer(self.weights, self.dtype_name, device))
        self.tokenizer = self.weights.tokenizer
        self.chat = ChatTemplate(self.weights.chat_template)
        self.tree = KVTree(budget_bytes, ttl_s)
        self.pool = KVPool(self.weights.config, self.model.kv_dtype, self.model.device)
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
        self._inflight: dict[tuple, PrefillJob] = {}
        self._inflight_lock = threading.Lock()
        self.metrics = EngineMetrics()

    def close(self) -> None:
        """Stop the scheduler thread (requests in flight fail)."""
        self.scheduler.close()

    def run_on_model_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the model thread, between scheduler steps, and return its result.

        Torch work that should run at the engine's speed goes here: computing in a second thread
        while the engine runs makes both slower (see :mod:`promptc.engine.scheduler`)."""
        return self.scheduler.call(fn)

    def step(self, plan: StepPlan) -> StepResult:
        """Execute what a scheduler step decided (:mod:`promptc.engine.steps`): the prompt chunks in
        order, then the decode batch, on the model thread under the compute lock. The only place the
        scheduler and the prefill jobs reach the model. A chunk that raises fails alone (its
        :class:`ChunkResult` carries the error); a decode batch that raises raises."""
        return self.scheduler.call(lambda: self._execute(plan))

    def _execute(self, plan: StepPlan) -> StepResult:
        model = self.model
        chunks = []
        with self._compute:
            for c in plan.chunks:
                try:
                    hidden = None
                    if c.tokens:
                        hidden = model.forward(torch.tensor(c.tokens), c.cache, c.start, positions=list(c.positions),
                                               hidden=True)
                    logits = None
                    if c.logits:  # the LM head runs for the prompt's last position only
                        last = hidden[-1] if c.tokens else c.last_hidden
                        if last is None:
                            raise ValueError("empty prompt")
                        logits = model.logits(last[None])[0]
                    chunks.append(ChunkResult(hidden, logits))
                except Exception as exc:  # noqa: BLE001 - that request fails, the step goes on
                    chunks.append(ChunkResult(error=exc))
            logits, picks = None, ()
            if plan.decode is not None:
                d = plan.decode
                logits = model.decode(list(d.tokens), list(d.caches), list(d.positions))
                picks = tuple(model.argmax(logits))
        return StepResult(tuple(chunks), logits, picks)

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
    def _job(self, tenant: str, segments: Sequence[SegmentIn], messages: Sequence[dict], extra_capacity: int,
             use_cache: bool, add_generation_prompt: bool) -> PrefillJob:
        seg_ids, msg_ids, gen_ids = self.tokenize(segments, messages, add_generation_prompt, tenant=tenant)
        suffix = [t for ids in msg_ids for t in ids] + list(gen_ids)
        return PrefillJob(self, tenant, segments, seg_ids, suffix, extra_capacity, use_cache)

    def prefill(self, tenant: str, segments: Sequence[SegmentIn], messages: Sequence[dict] = (), *,
                extra_capacity: int = 0, use_cache: bool = True, add_generation_prompt: bool = True) -> Prefill:
        """Reuse the deepest cached path, compute and cache the remaining segments, then the suffix,
        in one call on the model thread (not interleaved with other requests).

        The caller owns ``prefill.held`` references and must :meth:`release` them.
        """
        job = self._job(tenant, segments, messages, extra_capacity, use_cache, add_generation_prompt)

        def run() -> Prefill:
            try:
                job.begin()
                job.step(None)
            except BaseException:
                job.abort()
                raise
            assert job.prefill is not None
            return job.prefill
        return self.scheduler.call(run)

    # -- in-flight segments (two requests never compute the same missing segment) -----------------
    def inflight_register(self, job: PrefillJob, keys: Sequence[tuple]) -> None:
        with self._inflight_lock:
            for k in keys:
                self._inflight.setdefault(k, job)

    def inflight_unregister(self, job: PrefillJob, keys: Sequence[tuple]) -> None:
        with self._inflight_lock:
            for k in keys:
                if self._inflight.get(k) is job:
                    del self._inflight[k]

    def inflight_blocks(self, job: PrefillJob) -> bool:
        """True while another job computes a segment path that ``job`` needs (it should wait for it)."""
        if not job.use_cache:
            return False
        with self._inflight_lock:
            return any(self._inflight.get(k, job) is not job for k in job.path_keys)

    def release(self, prefill: Prefill) -> None:
        """Release the request's tree references and return its KV buffer to the pool (once)."""
        if prefill.held:
            self.tree.release(prefill.held)
            prefill.held = []
        if prefill.cache is not None:
            self.pool.release(prefill.cache)
            prefill.cache = None

    def warm(self, tenant: str, segments: Sequence[SegmentIn], **queueing) -> list[SegmentStatus]:
        """Compute and cache a segment path without generating (``POST /v1/cache/warm``); scheduled
        between decode steps like any prefill. ``queueing``: :meth:`submit`'s ``arrived``,
        ``timeout_s`` and ``max_waiting``."""
        gen = self.submit(tenant, segments, (), GenerationParams(max_tokens=1), prefill_only=True,
                          add_generation_prompt=False, **queueing)
        gen.result()
        return gen.job.statuses

    # -- generation --------------------------------------------------------------------------------
    def sample(self, logits: torch.Tensor, params: GenerationParams, gen: torch.Generator | None) -> int:
        """The next token: argmax at temperature 0, else top-p sampling from ``gen``."""
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

    def submit(self, tenant: str, segments: Sequence[SegmentIn], messages: Sequence[dict] = (),
               params: GenerationParams = GenerationParams(), use_cache: bool = True, *, prefill_only: bool = False,
               add_generation_prompt: bool = True, arrived: float | None = None, timeout_s: float | None = None,
               max_waiting: int | None = None) -> Generation:
        """Queue a request for the scheduler and return its handle at once.

        Tokenization and the context-length check run here, in the caller's thread, so a bad prompt
        raises ``ValueError`` before anything is queued. ``arrived`` (``time.monotonic()``, default
        now) starts the TTFT clock and the deadline; after ``timeout_s`` seconds the scheduler
        cancels the request and it fails with :class:`~promptc.engine.request.DeadlineExceeded`
        (E712). With ``max_waiting``, a full waiting queue raises
        :class:`~promptc.engine.request.QueueFull` (E711) and nothing is queued.
        """
        extra = 0 if prefill_only else params.max_tokens
        job = self._job(tenant, segments, messages, extra, use_cache, add_generation_prompt)
        gen = Generation(self, job, params, prefill_only, arrived=arrived, timeout_s=timeout_s)
        try:
            return self.scheduler.submit(gen, max_waiting)
        except QueueFull:
            self.metrics.request_done(tenant, "queue_full")
            raise

    def stream(self, tenant: str, segments: Sequence[SegmentIn], messages: Sequence[dict] = (),
               params: GenerationParams = GenerationParams(), use_cache: bool = True) -> Iterator[TokenEvent]:
        """Generate token by token. Closing the iterator early cancels the request and releases its
        tree references before ``close()`` returns."""
        gen = self.submit(tenant, segments, messages, params, use_cache)
        try:
            yield from gen
        finally:
            gen.cancel()
            gen.done.wait()

    def complete(self, tenant: str, segments: Sequence[SegmentIn], messages: Sequence[dict] = (),
                 params: GenerationParams = GenerationParams(), use_cache: bool = True) -> Completion:
        completion = self.submit(tenant, segments, messages, params, use_cache).result()
        assert completion is not None  # only a cancelled request has none
        return completion

    # -- reference paths (tests, benchmarks) -----------------------------------------------------
    def cold_logits(self, segments: Sequence[SegmentIn], messages: Sequence[dict] = ()) -> torch.Tensor:
        """Next-token logits from one forward pass over the whole canonical token sequence, no tree."""
        seg_ids, msg_ids, gen_ids = self.tokenize(segments, messages)
        ids = [t for chunk in seg_ids + msg_ids for t in chunk] + list(gen_ids)

        def run() -> torch.Tensor:
            with self._compute:
                return self.model.forward(torch.tensor(ids), self.model.new_cache(len(ids)), 0)
        return self.scheduler.call(run)
