"""One request's prompt as a resumable job: tree lookup, cached-prefix copy, chunked compute, inserts.

``begin()`` takes references on the deepest cached path and copies its KV into a pooled buffer,
plus the K/V of the tokens the first missing segment shares with a cached sibling (a token-level
match where the segment path diverges);
``step(n)`` computes up to ``n`` more prompt tokens in one forward pass (final hidden states where a
segment ends, stored with its node; the LM head only for the prompt's last position) and inserts every segment that became complete into the tree, so another
request waiting for that segment can hit it at once. The scheduler interleaves these chunks with
decode steps; :meth:`promptc.engine.runner.Engine.prefill` runs a job to completion in one call.

While a job will insert a segment, that segment's path is registered with the engine as *in
flight*; a request that needs the same path waits for the node instead of computing a copy.
"""

from __future__ import annotations

from typing import Sequence

import torch

from promptc.engine.kvtree import Node
from promptc.engine.model import KVCache
from promptc.engine.request import Prefill, SegmentIn, SegmentStatus
from promptc.engine.steps import ChunkResult, EngineCore, PrefillChunk, StepPlan


class PrefillJob:
    """The prefill of one request. Not thread-safe: one thread (the scheduler's or the caller's) steps it."""

    def __init__(self, engine: EngineCore, tenant: str, segments: Sequence[SegmentIn], seg_ids: list[tuple[int, ...]],
                 suffix: list[int], extra_capacity: int, use_cache: bool):
        self.engine, self.tenant, self.use_cache = engine, tenant, use_cache
        self.segments, self.seg_ids, self.suffix = list(segments), seg_ids, suffix
        self.prompt_tokens = sum(len(i) for i in seg_ids) + len(suffix)
        self.capacity = self.prompt_tokens + extra_capacity
        max_len = engine.weights.config.max_seq_len
        if self.capacity > max_len:
            raise ValueError(f"prompt of {self.prompt_tokens} tokens plus {extra_capacity} new tokens exceeds the "
                             f"context length {max_len}")
        path: tuple[str, ...] = ()
        self.path_keys: list[tuple] = []
        for s in self.segments:
            path = path + (s.hash,)
            self.path_keys.append((tenant, engine.fingerprint, path))
        self.prefill: Prefill | None = None
        self.computed = 0  # prompt tokens computed so far by this job
        self.held: list[Node] = []
        self.cache: KVCache | None = None
        self._begun = False
        self._pending: tuple[int, list[int], bool] = (0, [], False)  # the chunk plan() handed out

    # -- lifecycle ---------------------------------------------------------------------------------
    def begin(self) -> None:
        """Look up the cached path (taking references) and copy its KV into a request buffer."""
        eng = self.engine
        keys = [(s.hash, ids) for s, ids in zip(self.segments, self.seg_ids)]
        path = eng.tree.lookup(self.tenant, eng.fingerprint, keys) if self.use_cache else []
        self.held = list(path)
        self._begun = True
        self.cache = cache = eng.pool.acquire(max(self.capacity, 1))
        pos, hidden = 0, None
        self.statuses: list[SegmentStatus] = []
        for node, seg in zip(path, self.segments):
            T = len(node.token_ids)
            cache.k[:, :, pos:pos + T] = node.k
            cache.v[:, :, pos:pos + T] = node.v
            pos += T
            hidden = node.last_hidden
            self.statuses.append(SegmentStatus(seg.id, seg.hash, T, "hit", True))
        self.hits = len(path)
        self.parent = path[-1] if path else eng.tree.root(self.tenant, eng.fingerprint)
        todo = list(zip(self.segments, self.seg_ids))[len(path):]
        # the first missing segment may start like a cached sibling: copy the shared tokens' K/V
        # (never the segment's last token: its final hidden state is stored with the segment's node)
        self.reused = 0
        if self.use_cache and todo and len(todo[0][1]) > 1:
            sibling, shared = eng.tree.longest_shared_prefix(self.parent, tuple(todo[0][1]))
            self.reused = min(shared, len(todo[0][1]) - 1)
            if sibling is not None and self.reused > 0:
                cache.k[:, :, pos:pos + self.reused] = sibling.k[:, :, :self.reused]
                cache.v[:, :, pos:pos + self.reused] = sibling.v[:, :, :self.reused]
                pos += self.reused
        self.cached_tokens = self.start = pos
        self.hidden = hidden  # of the last cached position; logits only if the prompt ends there
        self.todo = todo
        self.tokens = [t for _, ids in todo for t in ids][self.reused:] + self.suffix
        self.ends, off = [], -self.reused  # segment ends, relative to ``start``
        for _, ids in todo:
            off += len(ids)
            self.ends.append(off)
        self.inserting = self.use_cache
        self.next_seg = 0
        if self.use_cache:
            eng.inflight_register(self, self.path_keys[len(path):])
        self._finalize({})  # leading empty segments

    def plan(self, budget: int | None = None) -> PrefillChunk | None:
        """The next chunk to compute: up to ``budget`` more prompt tokens (all when None), with the LM head
        when it completes the prompt; None when there is nothing to run (done, or no budget)."""
        if self.prefill is not None:
            return None
        done = self.computed
        n = len(self.tokens) - done if budget is None else min(budget, len(self.tokens) - done)
        if n > 0:
            last = done + n == len(self.tokens)
            seg_rows = [i for i, e in enumerate(self.ends) if done < e <= done + n and len(self.todo[i][1]) > 0]
            positions = [self.ends[i] - 1 - done for i in seg_rows] + ([n - 1] if last else [])
            self._pending = (n, seg_rows, last)
            return PrefillChunk(tuple(self.tokens[done:done + n]), self.cache, self.start + done, tuple(positions),
                                logits=last)
        if done < len(self.tokens):
            return None
        # every token was cached: only the LM head runs, on the last cached position's hidden state
        if self.hidden is None:
            raise ValueError("empty prompt")
        self._pending = (0, [], False)
        return PrefillChunk((), self.cache, self.start + done, (), logits=True, last_hidden=self.hidden)

    def apply(self, result: ChunkResult) -> bool:
        """Take the result of the chunk :meth:`plan` returned (insert the segments it completed); True when
        the prompt is done. Raises the error computing the chunk raised."""
        if result.error is not None:
            raise result.error
        n, seg_rows, last = self._pending
        if n > 0:
            out = result.hidden
            self.computed += n
            self._finalize({i: out[r] for r, i in enumerate(seg_rows)})
            if last:
                self.hidden = out[-1]
        if self.computed < len(self.tokens):
            return False
        if self.hidden is None or result.logits is None:
            raise ValueError("empty prompt")
        self.logits = result.logits
        self.engine.tree.record(self.tenant, self.hits, len(self.segments) - self.hits, self.cached_tokens,
                                self.prompt_tokens - self.cached_tokens)
        self.prefill = Prefill(self.cache, self.start + len(self.tokens), self.logits, self.statuses,
                               self.cached_tokens, self.prompt_tokens - self.cached_tokens, self.prompt_tokens,
                               self.held)
        return True

    def step(self, budget: int | None = None) -> bool:
        """Plan one chunk, have the engine run it, apply it: True when the prompt is done
        (:meth:`promptc.engine.runner.Engine.prefill` runs a whole prompt this way)."""
        chunk = self.plan(budget)
        if chunk is None:
            return self.prefill is not None
        return self.apply(self.engine.step(StepPlan(chunks=(chunk,))).chunks[0])

    def _finalize(self, rows: dict[int, torch.Tensor]) -> None:
        """Insert every segment whose tokens are all computed now (in order), and report its status."""
        eng = self.engine
        while self.next_seg < len(self.todo) and self.ends[self.next_seg] <= self.computed:
            i = self.next_seg
            seg, ids = self.todo[i]
            T = len(ids)
            stored = False
            if self.inserting and T > 0:
                a = self.start + self.ends[i] - T
                node = eng.tree.insert(self.parent, seg.hash, ids, self.cache.k[:, :, a:a + T].clone(),
                                       self.cache.v[:, :, a:a + T].clone(), rows[i].clone())
                if node is None:
                    self.inserting = False  # a child cannot live without its parent in the tree
                else:
                    self.held.append(node)
                    self.parent = node
                    stored = True
            elif T == 0:
                self.inserting = False  # an empty segment has no last position to key a hidden state on
            self.statuses.append(SegmentStatus(seg.id, seg.hash, T, "computed", stored))
            self.next_seg += 1
            if self.inserting:
                eng.inflight_unregister(self, self.path_keys[self.hits + i: self.hits + i + 1])
            else:  # nothing further will be inserted: nobody should wait for it
                eng.inflight_unregister(self, self.path_keys[self.hits + i:])

    def abort(self) -> None:
        """Release references, the KV buffer and in-flight registrations (idempotent)."""
        eng = self.engine
        eng.inflight_unregister(self, self.path_keys)
        if self.prefill is not None:
            eng.release(self.prefill)
            self.held, self.cache = [], None
            return
        if self.held:
            eng.tree.release(self.held)
            self.held = []
        if self.cache is not None:
            eng.pool.release(self.cache)
            self.cache = None
