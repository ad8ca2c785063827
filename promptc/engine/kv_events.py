"""KV events: the engine publishes what its KV tree stores and removes, one event per segment node, in
vLLM's KV-event wire format, so routers that consume vLLM events (llm-d, Dynamo, SGLang's Model
Gateway event index) can route to promptc engines.

Format (vLLM ``vllm/distributed/kv_events.py`` at commit 0181ea3173e53eea8cf04a86891488e3dc89bb34, read
2026-12-07): ZMQ PUB multipart ``(topic, seq as 8-byte big-endian, payload)``; the payload is msgpack of
an ``EventBatch`` ``{"ts", "events", "data_parallel_rank"}``; each event is a map tagged by
``"type"``: ``BlockStored {block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium,
lora_name, extra_keys}``, ``BlockRemoved {block_hashes, medium}``, ``AllBlocksCleared {}`` (fields
equal to their default are omitted, as msgspec's ``omit_defaults`` does). Replay is vLLM's too: a
ROUTER socket that answers a request frame of the 8-byte start sequence with every buffered
``(seq, payload)`` from there, then ``(-1, b"")``.

One promptc segment node is one "block": ``block_size`` is its token count (segments vary in length),
``token_ids`` its tokens. Its hash is a 63-bit integer (routers decode hashes as int64) of the model
fingerprint, the tenant salt and the node's chain hash (promptc.core.hashing.chain over the segment
hashes of its path), so two tenants or two models never share a block hash; the parent's hash links
the chain (None for a first segment). ``extra_keys`` carries, per block, ``["promptc", chain hash,
tenant salt, model fingerprint]`` for consumers that know promptc. The tenant salt is a hash of the
tenant name, never the name. A new publisher first sends ``AllBlocksCleared``: a restarted replica
tells routers to forget what they knew of it.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import deque
from itertools import count
from typing import Any

from promptc.core.hashing import chain

END_SEQ = (-1).to_bytes(8, "big", signed=True)


def tenant_salt(tenant: str) -> str:
    return hashlib.sha256(f"promptc-tenant:{tenant}".encode()).hexdigest()[:16]


def node_identity(node: Any) -> tuple[str, str, str | None, str, str]:
    """(fingerprint, tenant salt, parent chain hash, chain hash, ...) of a tree node: walks to the root."""
    keys = []
    n = node
    while n.parent is not None:
        keys.append(n.key)
        n = n.parent
    fingerprint = n.key.removeprefix("root:")
    keys.reverse()
    parent_chain = None
    for k in keys[:-1]:
        parent_chain = chain(parent_chain, k)
    return fingerprint, tenant_salt(node.tenant), parent_chain, chain(parent_chain, keys[-1]), node.key


def block_hash(fingerprint: str, salt: str, chain_hash: str | None) -> int | None:
    if chain_hash is None:
        return None
    d = hashlib.sha256(f"{fingerprint}|{salt}|{chain_hash}".encode()).digest()
    return int.from_bytes(d[:8], "big") & ((1 << 63) - 1)


class KVEventPublisher:
    """Publishes a :class:`~promptc.engine.kvtree.KVTree`'s node events over ZMQ PUB (pyzmq, msgpack).

    ``endpoint`` is bound (``tcp://127.0.0.1:5557``; ``tcp://*:5557`` for every interface);
    ``replay_endpoint`` (optional) is the ROUTER socket a restarted router asks for missed batches;
    ``buffer_steps`` batches are kept for replay. :meth:`attach` hooks a tree; events are batched and
    sent by one thread, so the tree's lock is never held across a send.
    """

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5557", *, replay_endpoint: str | None = None,
                 buffer_steps: int = 10_000, topic: str = "", medium: str | None = "CPU",
                 data_parallel_rank: int = 0, hwm: int = 100_000):
        import msgpack
        import zmq

        self._zmq, self._pack = zmq, msgpack.Packer(use_bin_type=True)
        self._ctx = zmq.Context.instance()
        self._pub = self._ctx.socket(zmq.PUB)
        self._pub.set_hwm(hwm)
        self._pub.bind(endpoint)
        self.endpoint = self._pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self._replay = None
        self.replay_endpoint = None
        if replay_endpoint is not None:
            self._replay = self._ctx.socket(zmq.ROUTER)
            self._replay.bind(replay_endpoint)
            self.replay_endpoint = self._replay.getsockopt_string(zmq.LAST_ENDPOINT)
        self.topic, self.medium, self.rank = topic.encode(), medium, data_parallel_rank
        self._queue: queue.Queue = queue.Queue()
        self._buffer: deque[tuple[int, bytes]] = deque(maxlen=buffer_steps)
        self._seq = count()
        self._running = True
        self._queue.put({"type": "AllBlocksCleared"})
        self._thread = threading.Thread(target=self._run, name="promptc-kv-events", daemon=True)
        self._thread.start()

    # -- the tree listener (called under the tree's lock: only builds the event and enqueues it) ----
    def attach(self, tree: Any) -> "KVEventPublisher":
        tree.listeners.append(self.on_tree_event)
        return self

    def on_tree_event(self, kind: str, node: Any) -> None:
        fp, salt, parent_chain, own_chain, _ = node_identity(node)
        h = block_hash(fp, salt, own_chain)
        if kind == "stored":
            ev: dict[str, Any] = {"type": "BlockStored", "block_hashes": [h],
                                  "parent_block_hash": block_hash(fp, salt, parent_chain),
                                  "token_ids": list(node.token_ids), "block_size": len(node.token_ids),
                                  "lora_id": None, "medium": self.medium, "lora_name": None,
                                  "extra_keys": [["promptc", own_chain, salt, fp]]}
        else:
            ev = {"type": "BlockRemoved", "block_hashes": [h], "medium": self.medium}
        self._queue.put(ev)

    # -- the sending thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while self._running or not self._queue.empty():
            if self._replay is not None and self._replay.poll(0):
                # events enqueued before the request was seen belong in the answer: a router that asks
                # right after a response must get that response's blocks, so send what is waiting first
                self._send(self._pending())
                self._service_replay()
            try:
                first = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            self._send([first, *self._pending()])

    def _pending(self) -> list[dict[str, Any]]:
        """Every event waiting now, without blocking."""
        events = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                return events

    def _send(self, events: list[dict[str, Any]]) -> None:
        """Publish ``events`` as one batch and keep it for replay (nothing when there are none)."""
        if not events:
            return
        payload = self._pack.pack({"ts": time.time(), "events": events, "data_parallel_rank": self.rank})
        seq = next(self._seq)
        self._pub.send_multipart((self.topic, seq.to_bytes(8, "big"), payload))
        self._buffer.append((seq, payload))

    def _service_replay(self) -> None:
        frames = self._replay.recv_multipart()
        if len(frames) != 3:
            return  # not a replay request (vLLM's REQ client sends identity, empty, start seq)
        client, _, start = frames
        first = int.from_bytes(start, "big")
        for seq, payload in list(self._buffer):
            if seq >= first:
                self._replay.send_multipart((client, b"", seq.to_bytes(8, "big"), payload))
        self._replay.send_multipart((client, b"", END_SEQ, b""))

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every queued event was sent."""
        deadline = time.monotonic() + timeout_s
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self._pub.close(linger=0)
        if self._replay is not None:
            self._replay.close(linger=0)


__all__ = ["END_SEQ", "KVEventPublisher", "block_hash", "node_identity", "tenant_salt"]
