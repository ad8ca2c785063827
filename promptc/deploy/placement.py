"""Placement of requests on a fleet of promptc engine replicas: an index of the segment chains each
replica holds, built from the replicas' own KV events, and the choice of a replica for a request.

Invariants (1-5 tested in tests/deploy/test_ray.py; 3, 4 and 6 in tests/deploy/test_placement.py, 3 and 4 on
a simulated team fleet under a rotating speaking order):

1. The index knows only what the replicas said. ``BlockStored`` adds a block to a replica,
   ``BlockRemoved`` removes it, ``AllBlocksCleared`` (a replica's first event, and a restarted
   replica's) forgets everything the replica held, and a replica that leaves the fleet is forgotten
   (:meth:`Placer.forget`). Nothing is guessed from where requests were sent.
2. Tenants and models never share placement state. A block's hash (promptc.engine.kv_events.block_hash)
   covers the model fingerprint, the tenant salt and the chain hash; a request is looked up with the
   fingerprint of the replica being scored, so two tenants, or two models, never match each other's
   blocks, and a miss is hashed with the tenant salt.
3. Affinity: a request goes to the replica holding the most tokens of its segment chain (the deepest
   cached prefix), among the replicas the share gate admits. Ties (the chain on several replicas, or on
   none) go to the replica with a request *on its way* that shares the longest part of the chain: chosen
   for it (:meth:`Placer.reserve`; Ray chooses a burst's requests before it sends the first) or in
   flight there. That is a sibling agent sent a moment ago, whose blocks are announced only when its
   prefill ends; without this the agents of one tenant that speak in the same instant would scatter.
   Then to the replica with the fewest placements in the window (reservations included), then the
   fewest in flight. Requests on their way only break ties: the index itself holds only what the
   replicas announced (invariant 1).
4. Bounded imbalance (the share gate): a replica is passed over while one more request would take it
   beyond its fair share of the last ``window`` placements plus a slack: ``count + 1 > (W + 1) / N +
   max(min_count_skew, share_skew * (W + 1))`` (W placements in the window, N replicas), so the busiest
   replica's share tends to at most ``1/N + share_skew``. The replica with the fewest placements always
   passes, so the gate never empties the fleet. The gate counts placements, not requests in flight: the
   share is what the goal bounds (reservations count too: a burst is chosen before it is sent), and it
   moves slowly, so an agent's chain stays where it is cached while
   its replica is within its share, whatever the speaking order. When the gate passes over a replica, the
   request goes to the admitted replica with the deepest part of its chain (usually the tenant's shared
   prefix), so a tenant too large for one replica spreads over as few replicas as the share allows, and an
   agent held on two of them becomes the one that alternates (its chain is cached on both; the tie-break
   on placements keeps the two even). An optional in-flight gate (``max_queue_skew``; off by default)
   also passes over a replica with more than that many requests in flight above the least loaded.
   Measured (bench/fleet.py --ray, docs/benchmarks.md): the in-flight gate at 2 scattered agents every
   turn, because the speaking order rotates and a turn's requests arrive together.
5. A miss (no admitted replica holds any of the chain) is placed by rendezvous hashing of the
   request's shared prefix (tenant salt + first chain hash): the agents of one tenant that share a
   global prefix meet on one replica, and a fleet change moves only the keys of the replica that left.
6. Memory (the fit gate): a replica reports its KV capacity in tokens (``set_capacity``; Ray's routing
   stats); its *working set* is the blocks it holds (its events) that lie on the chains of at least
   two of the window's placements on it (reused blocks; a request's one-off tail is not). A request
   *fits* a replica when the tokens of its chain outside that working set (block sizes learned from
   any replica's ``BlockStored``; a never-stored segment counts 0) are at most the capacity minus the
   working set. Among the admitted replicas, the ones it fits are ranked first (then invariants 3 and
   5 among them); when it fits none, or a replica's capacity is unknown, nothing changes. So a miss,
   or a chain whose replica is full of other live chains, goes where it can stay instead of evicting
   a chain that comes back next turn.

A :class:`Placer` belongs to one router; its methods are thread-safe (the KV-event threads write
while the router's event loop reads).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from promptc.core.hashing import chain
from promptc.engine.kv_events import block_hash, tenant_salt


@dataclass(frozen=True)
class RouteKey:
    """What the router needs to know of a request: its tenant's salt and the chain hashes of its segments
    (``chain[i]`` = the prefix hash of segments ``0..i``), in order."""

    salt: str
    chain: tuple[str, ...]

    @classmethod
    def for_segments(cls, tenant: str, segment_hashes: Iterable[str]) -> "RouteKey":
        parent, out = None, []
        for h in segment_hashes:
            parent = chain(parent, h)
            out.append(parent)
        return cls(tenant_salt(tenant), tuple(out))

    def to_json(self) -> dict[str, Any]:
        return {"salt": self.salt, "chain": list(self.chain)}

    @classmethod
    def from_json(cls, data: Any) -> "RouteKey | None":
        """None for anything that is not a route key (a request sent without one is placed by load)."""
        if not isinstance(data, Mapping):
            return None
        salt, hashes = data.get("salt"), data.get("chain")
        if not isinstance(salt, str) or not isinstance(hashes, (list, tuple)) or \
                not all(isinstance(h, str) for h in hashes):
            return None
        return cls(salt, tuple(hashes))


def rendezvous(key: str, replica: str) -> int:
    """Highest-random-weight hashing: the weight of ``replica`` for ``key`` (blake2b: stable across
    processes and PYTHONHASHSEED, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(f"{key}|{replica}".encode(), digest_size=8).digest(), "big")


@dataclass
class _Replica:
    fingerprint: str | None = None
    blocks: dict[int, int] = field(default_factory=dict)  # block hash -> token count
    capacity: int | None = None  # KV tokens the replica can hold (None: unknown, treated as unbounded)


class PlacementIndex:
    """Block hash → the replicas that hold it, from vLLM-format KV events (one block = one segment node)."""

    def __init__(self, *, max_sizes: int = 1 << 16) -> None:
        self._lock = threading.Lock()
        self._replicas: dict[str, _Replica] = {}
        # block hash -> token count, from any replica's BlockStored, kept after removal (bounded, oldest
        # first out): what a chain costs on a replica that does not hold it
        self._sizes: OrderedDict[int, int] = OrderedDict()
        self._max_sizes = max_sizes

    def apply(self, replica: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Apply one batch of a replica's events (decoded msgpack maps tagged by ``type``)."""
        with self._lock:
            state = self._replicas.setdefault(replica, _Replica())
            for ev in events:
                kind = ev.get("type") if isinstance(ev, Mapping) else None
                if kind == "BlockStored":
                    hashes = ev.get("block_hashes") or []
                    extra = ev.get("extra_keys") or []
                    for i, h in enumerate(hashes):
                        if not isinstance(h, int):
                            continue
                        keys = extra[i] if i < len(extra) else None
                        if isinstance(keys, (list, tuple)) and len(keys) == 4 and keys[0] == "promptc":
                            state.fingerprint = keys[3]
                        state.blocks[h] = n = int(ev.get("block_size") or 0)
                        self._sizes[h] = n
                        self._sizes.move_to_end(h)
                        if len(self._sizes) > self._max_sizes:
                            self._sizes.popitem(last=False)
                elif kind == "BlockRemoved":
                    for h in ev.get("block_hashes") or []:
                        state.blocks.pop(h, None)
                elif kind == "AllBlocksCleared":
                    state.blocks.clear()

    def set_fingerprint(self, replica: str, fingerprint: str) -> None:
        with self._lock:
            self._replicas.setdefault(replica, _Replica()).fingerprint = fingerprint

    def set_capacity(self, replica: str, tokens: int | None) -> None:
        """The KV tokens ``replica`` can hold (its budget over its KV bytes per token), or None."""
        with self._lock:
            self._replicas.setdefault(replica, _Replica()).capacity = None if tokens is None else max(0, int(tokens))

    def forget(self, replica: str) -> None:
        with self._lock:
            self._replicas.pop(replica, None)

    def memory(self, replica: str, fingerprint: str | None = None) -> tuple[int | None, dict[int, int]]:
        """(capacity in tokens or None, the blocks it holds: hash -> tokens) of ``replica`` (a copy)."""
        with self._lock:
            state = self._replicas.get(replica)
            if state is None:
                return None, {}
            return state.capacity, dict(state.blocks)

    def fingerprint(self, replica: str) -> str | None:
        with self._lock:
            state = self._replicas.get(replica)
            return state.fingerprint if state is not None else None

    def chain_blocks(self, fingerprint: str, key: RouteKey) -> list[tuple[int, int]]:
        """(block hash, tokens) of every segment of ``key``'s chain on a replica of ``fingerprint``; a
        block no replica ever stored counts 0 tokens (its size is not known before it is computed)."""
        out = []
        with self._lock:
            for c in key.chain:
                h = block_hash(fingerprint, key.salt, c)
                out.append((h, self._sizes.get(h, 0)))
        return out

    def cached_tokens(self, replica: str, key: RouteKey) -> tuple[int, int]:
        """(tokens, segments) of the deepest prefix of ``key``'s chain that ``replica`` holds."""
        with self._lock:
            state = self._replicas.get(replica)
            if state is None or state.fingerprint is None:
                return 0, 0
            tokens = depth = 0
            for c in key.chain:
                n = state.blocks.get(block_hash(state.fingerprint, key.salt, c))
                if n is None:
                    break
                tokens, depth = tokens + n, depth + 1
            return tokens, depth

    def holders(self, fingerprint: str, key: RouteKey, depth: int) -> list[str]:
        """The replicas holding the first ``depth`` segments of ``key`` (as block ``depth - 1``)."""
        h = block_hash(fingerprint, key.salt, key.chain[depth - 1])
        with self._lock:
            return sorted(r for r, s in self._replicas.items() if s.fingerprint == fingerprint and h in s.blocks)

    def snapshot(self) -> dict[str, int]:
        """Blocks held per replica (what an operator and the tests look at)."""
        with self._lock:
            return {r: len(s.blocks) for r, s in sorted(self._replicas.items())}

    def tokens_held(self) -> dict[str, dict[str, int | None]]:
        """Tokens held and capacity per replica (what an operator and the bench look at)."""
        with self._lock:
            return {r: {"held": sum(s.blocks.values()), "capacity": s.capacity}
                    for r, s in sorted(self._replicas.items())}


@dataclass(frozen=True)
class Choice:
    """A placement: replicas best first, and why the first was chosen."""

    ranked: tuple[str, ...]
    reason: str  # "cache" (deepest cached chain), "rendezvous" (a miss) or "load" (no route key)
    cached_tokens: int
    # the fit gate (invariant 6) chose another first replica than cache affinity and rendezvous alone would
    moved_for_memory: bool = False


class Placer:
    """The index plus the load the router has put on each replica (in flight, and a window of recent
    placements): :meth:`rank` orders the replicas for a request (module docstring, invariants 3-5).
    ``max_queue_skew`` None (the default) turns the in-flight gate off."""

    def __init__(self, *, max_queue_skew: int | None = None, window: int = 64, share_skew: float = 0.1,
                 min_count_skew: int = 1) -> None:
        if (max_queue_skew is not None and max_queue_skew < 0) or window < 1 or share_skew < 0 or min_count_skew < 0:
            raise ValueError("load gate parameters must be non-negative (window at least 1)")
        self.index = PlacementIndex()
        self.max_queue_skew, self.share_skew, self.min_count_skew = max_queue_skew, share_skew, min_count_skew
        self._lock = threading.Lock()
        self._inflight: Counter[str] = Counter()
        # the route keys of the requests in flight per replica (request id -> key), oldest first
        self._pending: dict[str, OrderedDict[object, RouteKey | None]] = {}
        # chosen but not yet sent (request id -> replica, key, when): Ray probes a replica before sending,
        # and a turn's requests are all chosen before the first is sent
        self._reserved: OrderedDict[object, tuple[str, RouteKey | None, float]] = OrderedDict()
        self.reserve_ttl_s = 30.0
        self._seq = 0
        self._recent: deque[str] = deque(maxlen=window)
        self._recent_keys: deque[tuple[str, RouteKey | None]] = deque(maxlen=window)  # for the working sets

    # -- load -------------------------------------------------------------------------------------
    def reserve(self, replica: str, key: RouteKey | None, request_id: object) -> None:
        """``request_id`` was placed on ``replica`` and is about to be sent: its chain counts as in flight
        there for the tie-break (invariant 3) until :meth:`routed` (wherever it went) or ``reserve_ttl_s``."""
        now = time.monotonic()
        with self._lock:
            self._reserved.pop(request_id, None)
            self._reserved[request_id] = (replica, key, now)
            while self._reserved and next(iter(self._reserved.values()))[2] < now - self.reserve_ttl_s:
                self._reserved.popitem(last=False)  # never sent (cancelled): forgotten

    def routed(self, replica: str, key: RouteKey | None = None, request_id: object = None) -> None:
        with self._lock:
            self._reserved.pop(request_id, None)
            self._inflight[replica] += 1
            self._recent.append(replica)
            self._recent_keys.append((replica, key))
            if request_id is None:
                self._seq += 1
                request_id = ("anonymous", self._seq)
            self._pending.setdefault(replica, OrderedDict())[request_id] = key

    def completed(self, replica: str, request_id: object = None) -> None:
        """A request on ``replica`` ended (``request_id`` as given to :meth:`routed`; None: the oldest)."""
        with self._lock:
            if self._inflight[replica] > 0:
                self._inflight[replica] -= 1
            pending = self._pending.get(replica)
            if pending:
                if request_id in pending:
                    del pending[request_id]
                elif request_id is None:
                    pending.popitem(last=False)

    def forget(self, replica: str) -> None:
        """A replica left the fleet: drop what it held and its load."""
        self.index.forget(replica)
        with self._lock:
            self._inflight.pop(replica, None)
            self._pending.pop(replica, None)
            for rid in [i for i, (r, _, _) in self._reserved.items() if r == replica]:
                del self._reserved[rid]
            self._recent = deque((r for r in self._recent if r != replica), maxlen=self._recent.maxlen)
            self._recent_keys = deque(((r, k) for r, k in self._recent_keys if r != replica),
                                      maxlen=self._recent_keys.maxlen)

    def load(self) -> dict[str, Any]:
        with self._lock:
            return {"inflight": dict(self._inflight), "recent": dict(Counter(self._recent))}

    def admitted(self, replicas: Sequence[str]) -> list[str]:
        """The replicas the load gate lets through (invariant 4); never empty for a non-empty fleet."""
        if not replicas:
            return []
        with self._lock:
            inflight = {r: self._inflight[r] for r in replicas}
            cutoff = time.monotonic() - self.reserve_ttl_s
            # placements so far, and those chosen but not yet sent (a turn's requests are chosen together)
            counts = Counter(r for r in self._recent if r in inflight)
            counts.update(r for r, _, t in self._reserved.values() if r in inflight and t >= cutoff)
            placed = sum(counts.values()) + 1  # with this request
        cap = placed / len(replicas) + max(self.min_count_skew, self.share_skew * placed)
        low_q = min(inflight.values())
        low_c = min(counts[r] for r in replicas)
        skew = self.max_queue_skew
        out = [r for r in replicas
               if (skew is None or inflight[r] <= low_q + skew) and (counts[r] + 1 <= cap or counts[r] == low_c)]
        return out or [r for r in replicas if inflight[r] == low_q]  # the least in flight always passes

    # -- memory -------------------------------------------------------------------------------------
    def working_set(self, replica: str) -> dict[int, int]:
        """Blocks ``replica`` holds that lie on the chains of at least two of the window's placements on
        it (invariant 6): block hash -> tokens."""
        fp = self.index.fingerprint(replica)
        if fp is None:
            return {}
        _, held = self.index.memory(replica)
        with self._lock:
            keys = [k for r, k in self._recent_keys if r == replica and k is not None]
        uses: Counter[int] = Counter()
        for k in keys:
            uses.update({h for h, _ in self.index.chain_blocks(fp, k)})
        return {h: held[h] for h, n in uses.items() if n >= 2 and h in held}

    def fits(self, replica: str, key: RouteKey) -> bool:
        """Whether ``key``'s chain fits ``replica`` beside its working set (invariant 6)."""
        capacity, _ = self.index.memory(replica)
        fp = self.index.fingerprint(replica)
        if capacity is None or fp is None:
            return True
        live = self.working_set(replica)
        need = sum(n for h, n in self.index.chain_blocks(fp, key) if h not in live)
        return need <= capacity - sum(live.values())

    # -- the choice -------------------------------------------------------------------------------
    def pending_depth(self, replica: str, key: RouteKey) -> int:
        """Segments of ``key``'s chain shared with a request the router sent to ``replica`` that has not
        completed yet (invariant 3's tie-break: its blocks are not announced before its prefill ends)."""
        with self._lock:
            cutoff = time.monotonic() - self.reserve_ttl_s
            keys = [k for k in self._pending.get(replica, {}).values() if k is not None and k.salt == key.salt]
            keys += [k for r, k, t in self._reserved.values()
                     if r == replica and t >= cutoff and k is not None and k.salt == key.salt]
        best = 0
        for k in keys:
            d = 0
            for a, b in zip(k.chain, key.chain):
                if a != b:
                    break
                d += 1
            best = max(best, d)
        return best

    def rank(self, key: RouteKey | None, replicas: Sequence[str]) -> Choice:
        replicas = sorted(set(replicas))
        if not replicas:
            return Choice((), "load", 0)
        admitted = self.admitted(replicas)
        with self._lock:
            inflight = {r: self._inflight[r] for r in replicas}
            recent = Counter(self._recent)
            cutoff = time.monotonic() - self.reserve_ttl_s
            recent.update(r for r, _, t in self._reserved.values() if t >= cutoff)
        if key is None or not key.chain:
            # no segments: fewest recent placements, then least in flight, then a stable order
            order = sorted(admitted, key=lambda r: (recent[r], inflight[r], r))
            return Choice(tuple(order + [r for r in replicas if r not in order]), "load", 0)
        cached = {r: self.index.cached_tokens(r, key) for r in replicas}
        pending = {r: self.pending_depth(r, key) for r in replicas}
        best = max(cached[r][0] for r in admitted)
        best_pending = max(pending[r] for r in admitted)
        if best > 0 or best_pending > 0:
            # ties (the chain on several replicas) are broken by what is on its way (a sibling in flight),
            # then by load (recent placements, then in flight), then by rendezvous on the chain
            depth = max(max(cached[r][1] for r in admitted), best_pending)
            tie_key = f"{key.salt}|{key.chain[depth - 1]}"
            reason = "cache"
        else:
            tie_key, reason = f"{key.salt}|{key.chain[0]}", "rendezvous"

        def order(r: str) -> tuple:
            return (-cached[r][0], -pending[r], recent[r], inflight[r], -rendezvous(tie_key, r))

        unfit = {r for r in admitted if not self.fits(r, key)}
        plain = sorted(admitted, key=order)
        if unfit and len(unfit) < len(admitted):  # the fit gate: where the chain can stay, first
            first = [r for r in plain if r not in unfit] + [r for r in plain if r in unfit]
            fit_cached = cached[first[0]][0]
            if fit_cached == 0 and pending[first[0]] == 0:
                # among those it fits none holds the chain: rendezvous alone decides
                first = sorted((r for r in plain if r not in unfit),
                               key=lambda r: -rendezvous(f"{key.salt}|{key.chain[0]}", r)) + \
                    [r for r in plain if r in unfit]
                reason = "rendezvous"
            else:
                reason = "cache"
        else:
            first = plain
        rest = sorted((r for r in replicas if r not in admitted), key=lambda r: (recent[r], -cached[r][0], r))
        return Choice(tuple(first + rest), reason, cached[first[0]][0], moved_for_memory=first[0] != plain[0])


__all__ = ["Choice", "PlacementIndex", "Placer", "RouteKey", "rendezvous"]
