"""The segment-hash request router: a Ray Serve ``RequestRouter`` (Ray 2.60,
``ray.serve.request_router``) that places each request on the engine replica holding the deepest
cached segment chain of that request, under a load gate, with rendezvous hashing on a miss.

The decision itself is :class:`promptc.deploy.placement.Placer` (no Ray; the invariants are stated and
tested there). This class only wires it to Ray Serve:

- every replica reports its KV-event endpoints and its KV capacity in tokens (the placer's fit gate)
  in ``record_routing_stats``; the router subscribes to
  each (:class:`~promptc.deploy.subscriber.EventSubscriber`: SUB + replay from sequence 0, so a
  (re)started router learns what replicas already hold) and forgets a replica that leaves the fleet
  or dies (``update_replicas``, ``on_replica_actor_died``);
- the ingress passes the request's :class:`~promptc.deploy.placement.RouteKey` as the ``promptc_route``
  keyword argument; :meth:`choose_replicas` ranks the candidates, one rank each, so Ray tries the best
  replica first and falls back in order when it is full;
- in-flight counts come from ``on_request_routed`` / ``on_request_completed``, Ray's own hooks.

Configure it with ``RequestRouterConfig(request_router_class=
"promptc.deploy.ray.router:SegmentHashRouter", request_router_kwargs={...})``; the keyword arguments
are :class:`~promptc.deploy.placement.Placer`'s (``max_queue_skew``, ``window``, ``share_skew``,
``min_count_skew``).
"""

from __future__ import annotations

from typing import Any, List, Optional

from ray.serve.request_router import FIFOMixin, PendingRequest, ReplicaID, RequestRouter, RunningReplica

from promptc.deploy.placement import Placer, RouteKey
from promptc.deploy.subscriber import EventSubscriber

ROUTE_KWARG = "promptc_route"


class SegmentHashRouter(RequestRouter):
    """Routes by the replicas' KV events (module docstring).

    Not FIFOMixin: that mixin hands the replica chosen for one request to the oldest pending request,
    which scrambles content-aware placement under concurrency; the base class hands it to exactly the
    request it was chosen for."""

    # Ray probes the chosen replica's queue length before sending and, when the answer is late, moves
    # on to the next rank. Ray's 0.1 s first deadline is shorter than a busy CPU engine replica's
    # answer, and every late answer sends a request away from its cache: wait longer instead.
    queue_len_response_deadline_s = 2.0
    max_queue_len_response_deadline_s = 10.0

    def initialize_state(self, **kwargs: Any) -> None:
        self.placer = Placer(**kwargs)
        self.subscribers: dict[str, EventSubscriber] = {}
        self.choices: dict[str, int] = {"cache": 0, "rendezvous": 0, "load": 0, "moved_for_memory": 0}
        # whether Ray sent each request to the router's first choice (a full replica, a late probe: not)
        self.first_choice: dict[str, str] = {}
        self.placed: dict[str, int] = {"first_choice": 0, "fallback": 0}

    # -- the fleet ------------------------------------------------------------------------------
    def _sync_subscriptions(self) -> None:
        live = {rid.unique_id: r for rid, r in self._replicas.items()}
        for rid, replica in live.items():
            stats = replica.routing_stats or {}
            capacity = stats.get("kv_capacity_tokens")
            if isinstance(capacity, int) and rid in self.subscribers:  # the fit gate's capacity (placement 6)
                self.placer.index.set_capacity(rid, capacity)
            endpoint = stats.get("kv_events")
            if not isinstance(endpoint, str):
                continue  # not reported yet: the controller polls record_routing_stats periodically
            current = self.subscribers.get(rid)
            if current is not None and current.endpoint == endpoint:
                continue
            if current is not None:
                current.close()
                self.placer.index.forget(rid)
            if isinstance(stats.get("fingerprint"), str):
                self.placer.index.set_fingerprint(rid, stats["fingerprint"])
            if isinstance(capacity, int):
                self.placer.index.set_capacity(rid, capacity)
            self.subscribers[rid] = EventSubscriber(rid, endpoint, self.placer.index,
                                                    replay_endpoint=stats.get("kv_replay"))
        for rid in [r for r in self.subscribers if r not in live]:
            self._forget(rid)

    def _forget(self, rid: str) -> None:
        sub = self.subscribers.pop(rid, None)
        if sub is not None:
            sub.close()
        self.placer.forget(rid)

    def update_replicas(self, replicas: List[RunningReplica]) -> None:
        super().update_replicas(replicas)
        self._sync_subscriptions()

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        super().on_replica_actor_died(replica_id)
        self._forget(replica_id.unique_id)

    # -- routing --------------------------------------------------------------------------------
    async def choose_replicas(self, candidate_replicas: List[RunningReplica],
                              pending_request: Optional[PendingRequest] = None) -> List[List[RunningReplica]]:
        self._sync_subscriptions()  # routing stats arrive after a replica starts
        key = RouteKey.from_json(pending_request.kwargs.get(ROUTE_KWARG)) if pending_request else None
        by_id = {r.replica_id.unique_id: r for r in candidate_replicas}
        choice = self.placer.rank(key, list(by_id))
        self.choices[choice.reason] += 1
        self.choices["moved_for_memory"] += choice.moved_for_memory
        if pending_request is not None:
            pending_request.routing_context.should_backoff = True  # when all are full, back off, don't spin
            if choice.ranked:
                rid = pending_request.metadata.internal_request_id
                self.first_choice[rid] = choice.ranked[0]
                # the next request may be chosen before this one is sent (Ray probes first): it sees this
                # one's chain as on its way to the first choice (placement invariant 3)
                self.placer.reserve(choice.ranked[0], key, rid)
        return [[by_id[r]] for r in choice.ranked]

    def on_request_routed(self, pending_request: PendingRequest, replica_id: ReplicaID, result: Any) -> None:
        self.placer.routed(replica_id.unique_id, RouteKey.from_json(pending_request.kwargs.get(ROUTE_KWARG)),
                           request_id=pending_request.metadata.internal_request_id)
        first = self.first_choice.pop(pending_request.metadata.internal_request_id, None)
        if first is not None:
            self.placed["first_choice" if first == replica_id.unique_id else "fallback"] += 1

    def on_request_completed(self, replica_id: ReplicaID, internal_request_id: str) -> None:
        self.placer.completed(replica_id.unique_id, internal_request_id)

    # -- what an operator (and the tests) can see ------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"replicas": sorted(r.unique_id for r in self._replicas),
                "blocks": self.placer.index.snapshot(), "tokens": self.placer.index.tokens_held(),
                "subscribers": {r: s.state() for r, s in sorted(self.subscribers.items())},
                "load": self.placer.load(), "choices": dict(self.choices), "placed": dict(self.placed)}

    def route_state(self, key: RouteKey) -> dict[str, int]:
        """Cached tokens of ``key``'s chain per replica."""
        return {r.unique_id: self.placer.index.cached_tokens(r.unique_id, key)[0] for r in self._replicas}





class RoundRobinRouter(FIFOMixin, RequestRouter):
    """The replicas in turn, ignoring the cache (a peer for bench/fleet.py)."""

    def initialize_state(self, **kwargs: Any) -> None:
        self.turn = 0

    async def choose_replicas(self, candidate_replicas: List[RunningReplica],
                              pending_request: Optional[PendingRequest] = None) -> List[List[RunningReplica]]:
        ordered = sorted(candidate_replicas, key=lambda r: r.replica_id.unique_id)
        if not ordered:
            return []
        i = self.turn % len(ordered)
        self.turn += 1
        if pending_request is not None:
            pending_request.routing_context.should_backoff = True
        return [[r] for r in ordered[i:] + ordered[:i]]
__all__ = ["ROUTE_KWARG", "RoundRobinRouter", "SegmentHashRouter"]
