"""KV events (promptc/engine/kv_events.py): the engine's tree publishes BlockStored / BlockRemoved /
AllBlocksCleared per segment node over ZMQ PUB, msgpack-encoded in vLLM's KV-event schema, with vLLM's
replay protocol. The oracle: a real ZMQ SUB socket, decoding with msgspec against vLLM's own struct
definitions (copied below from vllm/distributed/kv_events.py at commit
0181ea3173e53eea8cf04a86891488e3dc89bb34), and promptc.core.hashing.chain over the segment hashes the
test sent."""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec
import pytest
import zmq

from promptc.core.hashing import chain, segment_hash
from promptc.engine import Engine
from promptc.engine.kv_events import KVEventPublisher
from promptc.engine.server import EngineServer, ServerConfig, ServerThread
from tests.engine.tiny import tiny_weights


# -- vLLM's schema (vllm/distributed/kv_events.py @ 0181ea3), the decoder is the oracle ------------------
class EventBatch(msgspec.Struct, omit_defaults=True, gc=False):
    ts: float
    events: list[Any]
    data_parallel_rank: int | None = None


class KVCacheEvent(msgspec.Struct, omit_defaults=True, gc=False, tag=True):
    pass


class BlockStored(KVCacheEvent):
    block_hashes: list[bytes | int]
    parent_block_hash: bytes | int | None
    token_ids: list[int]
    block_size: int
    lora_id: int | None
    medium: str | None
    lora_name: str | None
    extra_keys: list[tuple[Any, ...] | None] | None = None
    group_idx: int | None = None
    kv_cache_spec_kind: str | None = None
    kv_cache_spec_sliding_window: int | None = None


class BlockRemoved(KVCacheEvent):
    block_hashes: list[bytes | int]
    medium: str | None
    group_idx: int | None = None


class AllBlocksCleared(KVCacheEvent):
    pass


class KVEventBatch(EventBatch):
    events: list[BlockStored | BlockRemoved | AllBlocksCleared]


DECODE = msgspec.msgpack.Decoder(KVEventBatch)
KEYS = {"key-a": "tenant-a", "key-b": "tenant-b"}


def seg(id_, role, content):
    return {"id": id_, "role": role, "content": content, "hash": segment_hash(role, content)}


SEGS = [seg("rules", "system", "You are terse."), seg("task", "user", "Summarise the events.")]


@pytest.fixture(scope="module")
def rig(smollm_weights):
    engine = Engine(weights=tiny_weights(smollm_weights, layers=2), budget_bytes=32 << 20)
    pub = KVEventPublisher("tcp://127.0.0.1:0", replay_endpoint="tcp://127.0.0.1:0").attach(engine.tree)
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(pub.endpoint)
    time.sleep(0.3)  # ZMQ's slow joiner: the subscription reaches the publisher (setup, not an assertion)
    with ServerThread(EngineServer(engine, ServerConfig(api_keys=KEYS))) as st:
        yield engine, pub, sub, st
    sub.close(linger=0)
    pub.close()


def receive(sub, want: int) -> list:
    """Events (decoded with vLLM's schema) until ``want`` non-clear events arrived."""
    out = []
    while sum(not isinstance(e, AllBlocksCleared) for e in out) < want:
        assert sub.poll(20_000), "no KV event within 20 s"
        topic, seq, payload = sub.recv_multipart()
        batch = DECODE.decode(payload)
        assert batch.data_parallel_rank == 0 and len(seq) == 8
        out.extend(batch.events)
    return [e for e in out if not isinstance(e, AllBlocksCleared)]


def warm(st, key):
    r = httpx.post(st.url + "/v1/cache/warm", json={"segments": SEGS}, headers={"authorization": f"Bearer {key}"})
    r.raise_for_status()
    return r.json()


def test_stored_events_follow_vllm_schema_and_the_segment_chain(rig):
    engine, pub, sub, st = rig
    body = warm(st, "key-a")
    a1, a2 = receive(sub, 2)
    assert isinstance(a1, BlockStored) and isinstance(a2, BlockStored)
    assert a1.parent_block_hash is None and a2.parent_block_hash == a1.block_hashes[0]
    c1 = chain(None, SEGS[0]["hash"])
    assert [e.extra_keys[0][1] for e in (a1, a2)] == [c1, chain(c1, SEGS[1]["hash"])]
    assert [e.block_size for e in (a1, a2)] == [len(e.token_ids) for e in (a1, a2)]
    assert [e.block_size for e in (a1, a2)] == [s["tokens"] for s in body["segments"]]
    fingerprint = a1.extra_keys[0][3]
    assert any(fingerprint in r.key for r in engine.tree.roots.values())
    # the other tenant's same segments: new nodes with other hashes (no shared placement state)
    warm(st, "key-b")
    b1, b2 = receive(sub, 2)
    assert b1.token_ids == a1.token_ids and b1.block_hashes != a1.block_hashes
    assert b1.extra_keys[0][2] != a1.extra_keys[0][2]  # the tenant salt, never the tenant's name
    assert "tenant-b" not in repr(b1)
    # tenant A's cache dropped: BlockRemoved for exactly its blocks
    httpx.request("DELETE", st.url + "/v1/cache", headers={"authorization": "Bearer key-a"}).raise_for_status()
    removed = receive(sub, 2)
    assert all(isinstance(e, BlockRemoved) for e in removed)
    assert sorted(h for e in removed for h in e.block_hashes) == sorted(a1.block_hashes + a2.block_hashes)


def test_replay_resends_every_batch_from_a_sequence_number(rig):
    engine, pub, sub, st = rig
    warm(st, "key-a")  # (re)computes tenant A's two nodes whatever ran before
    receive(sub, 2)
    pub.flush()
    time.sleep(0.2)  # the sending thread finishes its current batch (setup only)
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.connect(pub.replay_endpoint)
    dealer.send_multipart([b"", (0).to_bytes(8, "big")])  # what vLLM's REQ replay client sends
    seqs, events = [], []
    while True:
        assert dealer.poll(20_000)
        _, seq, payload = dealer.recv_multipart()
        n = int.from_bytes(seq, "big", signed=True)
        if n == -1:
            assert payload == b""
            break
        seqs.append(n)
        events.extend(DECODE.decode(payload).events)
    dealer.close(linger=0)
    assert seqs == list(range(len(seqs))) and seqs
    assert isinstance(events[0], AllBlocksCleared)  # a new publisher tells routers to forget it
    stored = [e for e in events if isinstance(e, BlockStored)]
    assert len(stored) >= 2 and all(len(e.block_hashes) == 1 for e in stored)


def test_serve_refuses_a_bad_kv_events_endpoint_before_loading_the_model():
    from click.testing import CliRunner

    from promptc import cli as cli_mod

    for args in (["--kv-events", "tcp://not an endpoint"], ["--kv-events-replay", "tcp://127.0.0.1:0"]):
        r = CliRunner().invoke(cli_mod.cli, ["serve", "--port", "0", *args])
        assert r.exit_code == 2 and "--kv-events" in r.output and "loading" not in r.output
