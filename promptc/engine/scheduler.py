"""Continuous batching: one thread owns the model and interleaves prefill chunks with decode steps.

Each loop iteration (a *step*):

1. cancelled requests and requests past their deadline leave (their tree references and KV
   buffers are released; an expired one fails with :class:`~promptc.engine.request.DeadlineExceeded`);
2. waiting requests are admitted while the batch has room, unless a segment path they need is being
   computed by another request right now — then they wait for that request's node instead of
   computing their own copy (:meth:`promptc.engine.runner.Engine.inflight_blocks`);
3. up to ``chunk_tokens`` prompt tokens of admitted requests are computed (a long prompt takes
   several steps, so it never stalls the streams that are already decoding for long);
4. every decoding request samples its next token and all of them run ONE batched forward pass
   (:meth:`promptc.engine.model.Transformer.decode`): the weights are read once per step for the
   whole batch, and each request attends over its own KV buffer.

New requests join between steps; finished ones leave between steps. The scheduler has no global
state: it belongs to an :class:`~promptc.engine.runner.Engine`.

The scheduler's thread is the engine's *model thread*: every torch computation of the engine runs
on it, including building the model and the synchronous reference paths (:meth:`Scheduler.call`).
Why: torch's CPU kernels run on an OpenMP thread team per calling thread, and once a process holds
more OpenMP threads than CPUs, GNU OpenMP stops spin-waiting between parallel regions; every one of
the ~200 kernels of a decode step then waits for a woken thread (measured on 2 cores: an int8
decode step took 41 ms on a second thread vs 21 ms with one computing thread). The thread leaves
after ``idle_exit_s`` without work, which frees its team; the next request starts a new one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Iterator, TypeVar

import torch

from promptc.engine.detok import TextStream
from promptc.engine.prefill import PrefillJob
from promptc.engine.request import Completion, DeadlineExceeded, GenerationParams, QueueFull, TokenEvent
from promptc.engine.steps import DecodeBatch, EngineCore, PrefillChunk, StepPlan

T = TypeVar("T")


@dataclass
class SchedulerStats:
    """Counters since the engine started (read by tests, benchmarks and metrics)."""

    steps: int = 0
    decode_steps: int = 0
    batched_tokens: int = 0  # tokens produced by decode steps (sum of batch sizes)
    max_batch: int = 0
    generated_tokens: int = 0
    prefill_chunks: int = 0
    waits_on_inflight: int = 0  # admissions deferred because another request computes the same segment
    cancelled: int = 0
    finished: int = 0
    expired: int = 0  # requests cancelled at their deadline
    rejected: int = 0  # submissions refused because the waiting queue was full

    def to_json(self) -> dict:
        return dict(self.__dict__)


class Generation:
    """A handle on one submitted request: iterate its events, cancel it, or wait for its result."""

    def __init__(self, engine: EngineCore, job: PrefillJob, params: GenerationParams, prefill_only: bool,
                 arrived: float | None = None, timeout_s: float | None = None):
        self.engine, self.job, self.params, self.prefill_only = engine, job, params, prefill_only
        # monotonic times: arrival (TTFT is measured from it), the deadline, the previous token
        self.arrived = time.monotonic() if arrived is None else arrived
        self.timeout_s = timeout_s
        self.deadline = None if timeout_s is None else self.arrived + timeout_s
        self.last_token_at: float | None = None
        self.events: queue.Queue = queue.Queue()
        self.done = threading.Event()
        self.completion: Completion | None = None
        self.error: BaseException | None = None
        self.generated = 0
        self._cancel = threading.Event()
        # decode state (owned by the scheduler thread)
        self.logits: torch.Tensor | None = None
        self.pick: int | None = None  # greedy: the argmax of ``logits``, when the step computed it
        self.pos = 0
        self.out_ids: list[int] = []
        self.text = TextStream(engine.tokenizer, params.stop)
        self.rng: torch.Generator | None = None
        if params.temperature > 0:
            self.rng = torch.Generator().manual_seed(params.seed if params.seed is not None else 0)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def cancel(self) -> None:
        """Stop generating at the next step; references are released by the scheduler."""
        if not self.done.is_set():
            self._cancel.set()
            self.engine.scheduler.wake()

    def __iter__(self) -> Iterator[TokenEvent]:
        """Events until the final one (which carries the :class:`Completion`); raises on failure."""
        while True:
            item = self.events.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:  # cancelled
                return
            yield item
            if item.completion is not None:
                return

    def result(self) -> Completion | None:
        """Block until finished; the completion, or None when cancelled."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.completion


@dataclass
class _Queues:
    waiting: list[Generation] = field(default_factory=list)
    prefilling: list[Generation] = field(default_factory=list)
    decoding: list[Generation] = field(default_factory=list)


class Scheduler:
    """The engine's model thread. ``max_batch`` bounds admitted requests; ``chunk_tokens`` bounds the
    prompt tokens computed between two decode steps."""

    def __init__(self, engine: EngineCore, max_batch: int = 16, chunk_tokens: int = 256, idle_exit_s: float = 2.0):
        self.engine = engine
        self.max_batch = max_batch
        self.chunk_tokens = chunk_tokens
        self.idle_exit_s = idle_exit_s
        self.stats = SchedulerStats()
        self._q = _Queues()
        self._calls: list[tuple[Callable, Future]] = []
        self._cond = threading.Condition()
        self._held = 0
        self._stop = False
        self._thread: threading.Thread | None = None

    # -- public ----------------------------------------------------------------------------------
    def submit(self, gen: Generation, max_waiting: int | None = None) -> Generation:
        """Queue ``gen``; with ``max_waiting``, raise :class:`QueueFull` (E711) instead of queueing
        when that many requests already wait (checked and queued atomically)."""
        with self._cond:
            if max_waiting is not None and len(self._q.waiting) >= max_waiting:
                self.stats.rejected += 1
                raise QueueFull(len(self._q.waiting), max_waiting)
            self._ensure_thread()
            self._q.waiting.append(gen)
            self._cond.notify_all()
        return gen

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the model thread between two steps and return its result (or raise its error).

        Called from the model thread itself (inside a step), ``fn`` runs at once."""
        if threading.current_thread() is self._thread:
            return fn()
        fut: Future = Future()
        with self._cond:
            self._ensure_thread()
            self._calls.append((fn, fut))
            self._cond.notify_all()
        return fut.result()

    def _ensure_thread(self) -> None:  # under self._cond
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            # not a daemon: a daemon thread that has run torch ops aborts the process at interpreter
            # exit ("terminate called without an active exception"); this one leaves once the main
            # thread has finished, or after idle_exit_s without work (see _run)
            self._thread = threading.Thread(target=self._run, name="promptc-model", daemon=False)
            self._thread.start()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self):
        """Admit nothing while the block runs (tests and benchmarks submit a batch at once)."""
        with self._cond:
            self._held += 1
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                self._cond.notify_all()

    def active(self) -> int:
        """Requests waiting, prefilling or decoding."""
        with self._cond:
            return len(self._q.waiting) + len(self._q.prefilling) + len(self._q.decoding)

    def queue_depth(self) -> int:
        with self._cond:
            return len(self._q.waiting)

    def counts(self) -> tuple[int, int, int]:
        """Requests waiting, prefilling and decoding (one consistent reading)."""
        with self._cond:
            return len(self._q.waiting), len(self._q.prefilling), len(self._q.decoding)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # -- the loop --------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                idle_since = time.monotonic()
                while not self._stop and not self._has_work():
                    idle = time.monotonic() - idle_since
                    if not self._q.waiting and idle >= self.idle_exit_s:
                        self._thread = None  # the next submit or call starts a new model thread
                        return
                    self._cond.wait(timeout=min(0.1, max(self.idle_exit_s - idle, 0.001)))
                    if not threading.main_thread().is_alive():
                        self._stop = True
                if self._stop:
                    for g in self._q.waiting + self._q.prefilling + self._q.decoding:
                        self._fail(g, RuntimeError("the engine was closed"))
                    self._q = _Queues()
                    for _, fut in self._calls:
                        fut.set_exception(RuntimeError("the engine was closed"))
                    self._calls = []
                    return
                calls, self._calls = self._calls, []
            for fn, fut in calls:
                try:
                    fut.set_result(fn())
                except BaseException as exc:  # the caller re-raises it
                    fut.set_exception(exc)
            if calls:
                continue  # back to the top: a step runs only for requests
            try:
                self._step()
            except BaseException as exc:  # never let the model thread die: fail the requests in flight
                for g in self._q.prefilling + self._q.decoding:
                    self._fail(g, exc)
                with self._cond:
                    self._q.prefilling, self._q.decoding = [], []

    def _has_work(self) -> bool:
        q = self._q
        if q.prefilling or q.decoding or self._calls:
            return True
        now = time.monotonic()
        return bool(q.waiting and (not self._held or any(g.cancelled or g.expired(now) for g in q.waiting)))

    def _step(self) -> None:
        self.stats.steps += 1
        self._reap()
        self._admit()
        self._prefill()
        self._decode()

    def _reap(self) -> None:
        now = time.monotonic()
        with self._cond:
            q = self._q
            stage = {id(g): where for where, gs in (("waiting in the queue", q.waiting), ("computing the prompt",
                                                    q.prefilling), ("generating", q.decoding)) for g in gs}
            gone = [g for g in q.waiting + q.prefilling + q.decoding if g.cancelled or g.expired(now)]
            if not gone:
                return
            left = {id(g) for g in gone}
            q.waiting = [g for g in q.waiting if id(g) not in left]
            q.prefilling = [g for g in q.prefilling if id(g) not in left]
            q.decoding = [g for g in q.decoding if id(g) not in left]
        for g in gone:
            if g.cancelled:
                self.stats.cancelled += 1
                self._finish(g, None)
            else:
                self.stats.expired += 1
                self._fail(g, DeadlineExceeded(g.timeout_s, stage[id(g)]))

    def _admit(self) -> None:
        with self._cond:
            if self._held:
                return
            candidates = list(self._q.waiting)
            room = self.max_batch - len(self._q.prefilling) - len(self._q.decoding)
        for g in candidates:
            if room <= 0:
                break
            # checked one by one: a job admitted just before registers the paths it will insert
            if self.engine.inflight_blocks(g.job):
                self.stats.waits_on_inflight += 1
                continue
            with self._cond:
                self._q.waiting.remove(g)
            try:
                g.job.begin()  # tree lookup (takes references), KV buffer, copy of the cached prefix
            except BaseException as exc:
                self._fail(g, exc)
                continue
            room -= 1
            with self._cond:
                self._q.prefilling.append(g)

    def _prefill(self) -> None:
        """Decide the prompt chunks of this step (up to ``chunk_tokens`` tokens, requests in order), have
        the engine run them (one :class:`~promptc.engine.steps.StepPlan`), then hand each its result."""
        budget = self.chunk_tokens
        planned: list[tuple[Generation, PrefillChunk]] = []
        for g in list(self._q.prefilling):
            if budget <= 0:
                break
            try:
                chunk = g.job.plan(budget)
            except BaseException as exc:
                with self._cond:
                    self._q.prefilling.remove(g)
                self._fail(g, exc)
                continue
            if chunk is not None:
                planned.append((g, chunk))
                budget -= len(chunk.tokens)
        if not planned:
            return
        results = self.engine.step(StepPlan(chunks=tuple(c for _, c in planned))).chunks
        for (g, _), result in zip(planned, results):
            try:
                done = g.job.apply(result)
                self.stats.prefill_chunks += 1
            except BaseException as exc:
                with self._cond:
                    self._q.prefilling.remove(g)
                self._fail(g, exc)
                continue
            if done:
                with self._cond:
                    self._q.prefilling.remove(g)
                if g.prefill_only or g.params.max_tokens <= 0:
                    self._finish(g, "stop" if g.prefill_only else "length")
                    continue
                g.logits, g.pos = g.job.prefill.logits, g.job.prefill.length
                with self._cond:
                    self._q.decoding.append(g)

    def _decode(self) -> None:
        batch = list(self._q.decoding)
        if not batch:
            return
        eos = set(self.engine.weights.eos_token_ids)
        running = []
        metrics = self.engine.metrics
        for g in batch:
            # greedy: the argmax the step computed with the logits (a prompt's first token: computed here)
            tok = g.pick if g.pick is not None else self.engine.sample(g.logits, g.params, g.rng)
            now = time.monotonic()
            first = g.last_token_at is None
            ends = tok in eos and not g.params.ignore_eos
            metrics.token(g.job.tenant, first, now - (g.arrived if first else g.last_token_at), not ends)
            g.last_token_at = now
            if ends:
                self._finish(g, "stop")
                continue
            g.out_ids.append(tok)
            g.generated += 1
            self.stats.generated_tokens += 1
            delta = g.text.push(tok)
            if delta:
                g.events.put(TokenEvent(delta, tok))
            if g.text.stopped:
                self._finish(g, "stop")
            elif len(g.out_ids) >= g.params.max_tokens:
                self._finish(g, "length")
            else:
                running.append(g)
        with self._cond:
            self._q.decoding = [g for g in self._q.decoding if g in running]
        metrics.last_batch = len(running)
        if not running:
            return
        plan = StepPlan(decode=DecodeBatch(tuple(g.out_ids[-1] for g in running),
                                           tuple(g.job.prefill.cache for g in running), tuple(g.pos for g in running)))
        result = self.engine.step(plan)
        self.stats.decode_steps += 1
        self.stats.batched_tokens += len(running)
        self.stats.max_batch = max(self.stats.max_batch, len(running))
        for i, g in enumerate(running):
            g.logits = result.logits[i]
            g.pick = result.picks[i] if g.params.temperature <= 0 else None
            g.pos += 1

    # -- endings ---------------------------------------------------------------------------------
    def _finish(self, g: Generation, finish_reason: str | None) -> None:
        try:
            if finish_reason is not None:
                tail = g.text.finish()
                if tail:
                    g.events.put(TokenEvent(tail, None))
                p = g.job.prefill
                g.completion = Completion(g.text.text, g.out_ids, finish_reason, g.job.prompt_tokens,
                                          p.cached_tokens if p else 0, p.computed_tokens if p else 0,
                                          p.statuses if p else [])
                self.stats.finished += 1
        finally:
            self.engine.metrics.request_done(g.job.tenant, "ok" if g.completion else "cancelled")
            g.job.abort()  # releases references and the KV buffer (idempotent)
            g.events.put(TokenEvent("", None, finish_reason, g.completion) if g.completion else None)
            g.done.set()

    def _fail(self, g: Generation, exc: BaseException) -> None:
        g.error = exc
        self.engine.metrics.request_done(g.job.tenant,
                                         "deadline_exceeded" if isinstance(exc, DeadlineExceeded) else "error")
        try:
            g.job.abort()
        finally:
            g.events.put(exc)
            g.done.set()
