"""Follow one engine replica's KV events into a :class:`~promptc.deploy.placement.PlacementIndex`.

The consumer side of promptc/engine/kv_events.py (vLLM's KV-event protocol): a ZMQ SUB socket on the
replica's publisher and, on start and on every gap in the sequence numbers, vLLM's replay request on
the replica's ROUTER endpoint (the 8-byte start sequence; answered by every buffered ``(seq,
payload)`` from there, then ``(-1, b"")``). So a router that (re)starts after the replica learns what
the replica already holds, and a dropped batch is fetched again instead of silently missing. One
thread per replica; no Ray here.
"""

from __future__ import annotations

import threading
from typing import Any

from promptc.deploy.placement import PlacementIndex


class EventSubscriber:
    """Applies the batches a replica publishes on ``endpoint`` to ``index`` under the name ``replica``."""

    def __init__(self, replica: str, endpoint: str, index: PlacementIndex, *, replay_endpoint: str | None = None,
                 replay_timeout_s: float = 5.0) -> None:
        import msgpack
        import zmq

        self.replica, self.endpoint, self.replay_endpoint = replica, endpoint, replay_endpoint
        self._zmq, self._unpack, self._index = zmq, msgpack.unpackb, index
        self._replay_timeout_ms = int(replay_timeout_s * 1000)
        self._ctx = zmq.Context.instance()
        self._stop = threading.Event()
        self.last_seq = -1  # the last batch applied
        self.batches = 0
        self.ready = threading.Event()  # set once the replay on start is done
        self._thread = threading.Thread(target=self._run, name=f"promptc-kv-sub-{replica[:12]}", daemon=True)
        self._thread.start()

    def _apply(self, seq: int, payload: bytes) -> None:
        try:
            batch = self._unpack(payload, raw=False)
        except Exception:  # a malformed batch from a replica is skipped, never fatal to the router
            self.last_seq = max(self.last_seq, seq)
            return
        events = batch.get("events") if isinstance(batch, dict) else None
        if isinstance(events, list):
            self._index.apply(self.replica, events)
        self.last_seq = max(self.last_seq, seq)
        self.batches += 1

    def _replay(self, start: int) -> None:
        """Ask the replica for every buffered batch from ``start`` and apply the ones not yet seen."""
        if self.replay_endpoint is None:
            return
        zmq = self._zmq
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(self.replay_endpoint)
            sock.send_multipart((b"", start.to_bytes(8, "big")))
            while not self._stop.is_set():
                if not sock.poll(self._replay_timeout_ms):
                    return  # the replica did not answer: live events still flow, the next gap retries
                frames = sock.recv_multipart()
                if len(frames) != 3:
                    continue
                seq = int.from_bytes(frames[1], "big", signed=True)
                if seq < 0:
                    return
                if seq > self.last_seq:
                    self._apply(seq, frames[2])
        finally:
            sock.close()

    def _run(self) -> None:
        zmq = self._zmq
        sub = self._ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        try:
            sub.connect(self.endpoint)
            self._replay(0)  # connected first: what is published during the replay waits in the SUB queue
            self.ready.set()
            while not self._stop.is_set():
                if not sub.poll(100):
                    continue
                frames = sub.recv_multipart()
                if len(frames) != 3:
                    continue
                seq = int.from_bytes(frames[1], "big", signed=True)
                if seq <= self.last_seq:
                    continue  # already applied by a replay
                if seq > self.last_seq + 1:
                    self._replay(self.last_seq + 1)  # a gap: fetch the missed batches first
                    if seq <= self.last_seq:
                        continue
                self._apply(seq, frames[2])
        finally:
            self.ready.set()
            sub.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def state(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "last_seq": self.last_seq, "batches": self.batches,
                "ready": self.ready.is_set()}


__all__ = ["EventSubscriber"]
