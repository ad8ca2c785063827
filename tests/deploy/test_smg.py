"""A real router in front of real engines: SGLang's Model Gateway (``smg`` 1.13.0, the Rust gateway's
CPU wheel) with ``--policy consistent_hashing`` routes promptc's ``vllm/`` and ``sglang/`` requests
(built and sent by :class:`promptc.runtime.Client`) to two ``promptc serve`` replicas, each started
once for the module with KV events on (``--kv-events`` / ``--kv-events-replay``).

Oracles, none derived from what they check: each replica's KV events, read with a plain ZMQ SUB
socket and decoded with vLLM's msgspec schema (the copy in tests/engine/test_kv_events.py, vLLM
commit 0181ea3); each replica's ``/metrics`` (per-tenant request counters, read with the
operator's metrics key); the chain hashes of the messages the client sent (promptc.core.hashing);
and the simulator's fleet (promptc.runtime.sim.fleet) serving the same request sequence.

What the gateway does with what promptc sends (smg 1.13.0, observed 2026-12-07; docs/deploy.md):
it routes on ``X-SMG-Routing-Key`` and forwards the header, the client's ``Authorization`` (each
tenant's own engine key, accepted by the gateway with ``--tenant-api-key``) and the body's
``cache_salt`` unchanged. Registering a worker, it reads the worker's ``/v1/models`` with its
``--api-key``, which must therefore be an engine key too. The engine keeps tenants apart by API key;
within a tenant, ``cache_salt`` scopes the cache further, as in vLLM (test_one_key_two_salts_are_kept_apart).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import zmq

import promptc
from promptc.core.hashing import chain, segment_hash
from promptc.engine.kv_events import tenant_salt
from promptc.engine.server import cache_scope
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.providers.selfhosted import routing_key
from promptc.runtime.sim.fleet import Fleet, chat_ids
from promptc.runtime.sim.fleet_replay import replay, team_workload
from promptc.tokenizers import load_tokenizer
from tests.engine.test_kv_events import DECODE, AllBlocksCleared, BlockRemoved, BlockStored

REPO = Path(__file__).resolve().parents[2]
GATEWAY_KEY = "gateway-key"  # the gateway's --api-key: it reads each worker's /v1/models with it
KEYS = {"key-acme": "acme", "key-globex": "globex", "key-initech": "initech", GATEWAY_KEY: "gateway"}
TENANT_KEY = {t: k for k, t in KEYS.items()}
METRICS_KEY = "operator-metrics-key"
HEADER = "X-SMG-Routing-Key"
MODEL = "smollm2-135m-instruct"  # the id the engine lists on /v1/models: the gateway routes by it
# promptc's two self-hosted adapters, configured for the gateway: sglang/ sends the header by default (and a
# salt once asked), vllm/ sends a salt per tenant by default (and the header once named)
CONFIG = RuntimeConfig(providers={"vllm": {"routing_header": HEADER}, "sglang": {"cache_salt": "tenant"}})
TARGET = {"acme": "vllm/" + MODEL, "globex": "sglang/" + MODEL}
START_S = 300  # model load on a busy 2-core machine (a bound for setup, not an assertion on speed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(proc: subprocess.Popen, log: Path, pattern: str) -> re.Match:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        m = re.search(pattern, log.read_text(errors="replace"))
        if m:
            return m
        if proc.poll() is not None:
            pytest.fail(f"{log.name}: exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"{log.name}: no {pattern!r} within {START_S} s:\n{log.read_text(errors='replace')[-3000:]}")


def stop(*procs: subprocess.Popen) -> None:
    """SIGTERM to every process group at once, then SIGKILL to any still running after 20 s."""
    running = [p for p in procs if p.poll() is None]
    for p in running:
        os.killpg(p.pid, signal.SIGTERM)
    for p in running:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


class Replica:
    """One ``promptc serve`` subprocess: its URL, its KV-event endpoints and a SUB socket on them."""

    def __init__(self, tmp: Path, i: int, keys_file: Path):
        self.log = tmp / f"replica{i}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two replicas share the machine's cores
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "promptc", "serve", "--port", "0", "--dtype", "float32", "--budget", "256MiB",
                 "--keys", str(keys_file), "--metrics-key", METRICS_KEY,
                 "--kv-events", "tcp://127.0.0.1:0", "--kv-events-replay", "tcp://127.0.0.1:0"],
                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        self.url = self.events = self.replay_endpoint = self.sub = None
        self.received: list = []  # every event the SUB socket decoded, in order

    def ready(self) -> None:
        m = wait_for(self.proc, self.log, r"KV events on (tcp://\S+), replay on (tcp://\S+)")
        self.events, self.replay_endpoint = m.group(1), m.group(2)
        self.url = wait_for(self.proc, self.log, r"(http://127\.0\.0\.1:\d+)/v1").group(1)
        self.subscribe()

    def subscribe(self) -> None:
        self.sub = zmq.Context.instance().socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(self.events)

    def drain(self, quiet_s: float = 1.0) -> list:
        """Events that arrive until the publisher has been quiet for ``quiet_s``, appended to ``received``."""
        new = []
        while self.sub.poll(int(quiet_s * 1000)):
            _topic, seq, payload = self.sub.recv_multipart()
            batch = DECODE.decode(payload)
            assert len(seq) == 8 and batch.data_parallel_rank == 0
            new.extend(batch.events)
        self.received.extend(new)
        return new

    def drain_until(self, pred, timeout_s: float = 30.0) -> list:
        """Drain until ``pred(received)`` holds (events are sent by the publisher's thread, a little after
        the response), then until quiet; the new events."""
        new, deadline = [], time.monotonic() + timeout_s
        while not pred(self.received):
            assert time.monotonic() < deadline, f"the expected KV event did not arrive within {timeout_s:g} s"
            new += self.drain(0.5)
        return new + self.drain(0.5)

    def stored(self) -> list[BlockStored]:
        return [e for e in self.received if isinstance(e, BlockStored)]

    def requests_ok(self) -> dict[str, int]:
        """Each tenant's completed requests, from the replica's /metrics (the operator's view)."""
        r = httpx.get(self.url + "/metrics", headers={"authorization": f"Bearer {METRICS_KEY}"})
        r.raise_for_status()
        return {t: int(n) for t, n in re.findall(r'^promptc_requests_total\{tenant="([^"]+)",status="ok"\} (\d+)',
                                                 r.text, re.M)}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smg")
    keys_file = tmp / "keys.json"
    keys_file.write_text(json.dumps({"keys": KEYS}))
    replicas, gateway = [], None
    try:
        replicas = [Replica(tmp, i, keys_file) for i in range(2)]  # both load at once
        for r in replicas:
            r.ready()
        port, glog = free_port(), tmp / "smg.log"
        with glog.open("wb") as err:
            gateway = subprocess.Popen(
                [str(Path(sys.executable).with_name("smg")), "launch", "--host", "127.0.0.1", "--port", str(port),
                 "--worker-urls", *[r.url for r in replicas], "--policy", "consistent_hashing",
                 "--api-key", GATEWAY_KEY, *[a for t in ("acme", "globex", "initech")
                                             for a in ("--tenant-api-key", f"{t}:{TENANT_KEY[t]}")],
                 "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port()), "--log-level", "warn",
                 "--shutdown-grace-period-secs", "1"],
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:  # ready when both workers are registered (model detected, healthy)
            if gateway.poll() is not None:
                pytest.fail(f"smg exited with {gateway.returncode}:\n{glog.read_text(errors='replace')[-3000:]}")
            try:
                workers = httpx.get(url + "/workers", headers={"authorization": f"Bearer {GATEWAY_KEY}"}).json()
                if sorted(w["url"] for w in workers.get("workers", []) if w.get("status") == "ready"
                          and w.get("is_healthy")) == sorted(r.url for r in replicas):
                    break
            except (httpx.TransportError, ValueError):
                pass
            assert time.monotonic() < deadline, glog.read_text(errors="replace")[-3000:]
            time.sleep(0.3)
        for r in replicas:
            r.drain()  # nothing is stored before the first request
            assert r.stored() == []
        yield url, replicas
    finally:
        for r in replicas:
            if r.sub is not None:
                r.sub.close(linger=0)
        stop(*([gateway] if gateway is not None else []), *(r.proc for r in replicas))


class Recorder:
    """An httpx client that keeps every request the promptc client sends (headers and JSON body)."""

    def __init__(self):
        self.sent: list[tuple[dict, dict]] = []
        self.http = httpx.Client(event_hooks={"request": [self.record]})

    def record(self, request: httpx.Request) -> None:
        request.read()
        self.sent.append(({k.lower(): v for k, v in request.headers.items()}, json.loads(request.content)))


def message_chain(body: dict) -> list[str]:
    """Chain hashes of a plain request's messages, as the engine caches them (one tree node per message)."""
    out, parent = [], None
    for m in body["messages"]:
        parent = chain(parent, segment_hash(m["role"], m["content"]))
        out.append(parent)
    return out


def scope(tenant: str, body: dict) -> str:
    """The engine's cache scope of a request: the tenant of its API key, and its ``cache_salt``."""
    return cache_scope(tenant, body.get("cache_salt"))


def salt_of(tenant: str, body: dict) -> str:
    """The tenant salt the KV events carry for a request's blocks (a hash of its cache scope)."""
    return tenant_salt(scope(tenant, body))


def placed(replicas, tenant: str, body: dict) -> list[int]:
    """The replicas whose KV events stored this request's last message (new on every turn) in its scope."""
    last, salt = message_chain(body)[-1], salt_of(tenant, body)
    return [i for i, r in enumerate(replicas)
            if any(e.extra_keys[0][1] == last and e.extra_keys[0][2] == salt for e in r.stored())]


def shared(ids, siblings) -> int:
    """Tokens ``ids`` shares with its longest-matching sibling, never its last token (the engine's partial reuse)."""
    best = max((next((i for i, (a, b) in enumerate(zip(ids, o)) if a != b), min(len(ids), len(o)))
                for o in siblings), default=0)
    return min(best, len(ids) - 1)


@pytest.fixture(scope="module")
def routed(fleet):
    """The team example's workload (tenant acme's backend and frontend agents over ``vllm/``, tenant
    globex's backend agent over ``sglang/``; 2 turns, the speaking order rotating) through the gateway."""
    url, replicas = fleet
    team = promptc.compile(REPO / "examples" / "team")
    workload = team_workload({n: team.plans[n] for n in ("backend", "frontend")}, 2)
    rec = Recorder()
    clients = {t: Client(TARGET[t], base_url=url + "/v1", api_key=TENANT_KEY[t], tenant=t, config=CONFIG,
                         http_client=rec.http) for t in TARGET}
    rows = []
    try:
        for w in workload:
            reply = clients[w.tenant].complete(w.request, max_tokens=1, temperature=0.0)
            headers, body = rec.sent[-1]
            rows.append({"turn": w, "headers": headers, "body": body, "reply": reply})
    finally:
        for c in clients.values():
            c.close()
        rec.http.close()
    deadline = time.monotonic() + 30
    for row in rows:
        while not (where := placed(replicas, row["turn"].tenant, row["body"])):
            assert time.monotonic() < deadline, "a request's KV events did not arrive within 30 s"
            for r in replicas:
                r.drain(0.5)
        row["replica"] = where[0]
    for r in replicas:
        r.drain()
    for row in rows:
        where = placed(replicas, row["turn"].tenant, row["body"])
        assert len(where) == 1, f"request stored on replicas {where}"
    counted = [r.requests_ok() for r in replicas]  # before any other test sends more
    return url, replicas, workload, rows, counted


def test_requests_of_one_plan_land_on_one_worker(routed):
    url, replicas, workload, rows, counted = routed
    by_key: dict[str, set[int]] = {}
    for row in rows:
        w = row["turn"]
        key = routing_key(w.request, w.tenant)
        # the adapters sent the plan's routing key in the gateway's header (vllm/ configured, sglang/ by default)
        assert row["headers"][HEADER.lower()] == key == row["reply"].cache_key
        assert key.startswith(f"{w.tenant}:")
        by_key.setdefault(key, set()).add(row["replica"])
    assert len(by_key) == 3 and all(len(where) == 1 for where in by_key.values())
    # each replica's own request counters agree with where the KV events say each request ran
    for i in range(len(replicas)):
        for tenant in ("acme", "globex"):
            label = scope(tenant, next(row["body"] for row in rows if row["turn"].tenant == tenant))
            ran_here = sum(1 for row in rows if row["replica"] == i and row["turn"].tenant == tenant)
            assert counted[i].get(label, 0) == ran_here


def test_two_tenants_are_kept_apart(routed):
    url, replicas, workload, rows, _ = routed
    acme = next(row for row in rows if (row["turn"].tenant, row["turn"].plan) == ("acme", "backend"))
    globex = next(row for row in rows if (row["turn"].tenant, row["turn"].plan) == ("globex", "backend"))
    # the same plan and turn inputs: the same messages, but another routing key and another salt
    assert acme["body"]["messages"] == globex["body"]["messages"]
    assert acme["headers"][HEADER.lower()] != globex["headers"][HEADER.lower()]
    assert acme["body"]["cache_salt"] != globex["body"]["cache_salt"]
    # a third tenant sends acme's request with acme's routing key: the gateway puts it on acme's replica,
    # whose cache holds these very messages for acme, and it reads none of them
    for tenant in ("initech", "acme"):
        r = httpx.post(url + "/v1/chat/completions", json=acme["body"], timeout=120,
                       headers={"authorization": f"Bearer {TENANT_KEY[tenant]}",
                                HEADER: acme["headers"][HEADER.lower()]})
        r.raise_for_status()
        usage = r.json()["usage"]
        target = replicas[acme["replica"]]
        theirs = salt_of(tenant, acme["body"])
        if tenant == "initech":
            new = target.drain_until(lambda got: any(isinstance(e, BlockStored) and e.extra_keys[0][2] == theirs
                                                     for e in got))
        else:
            new = target.drain()
        new = [e for e in new if isinstance(e, BlockStored)]
        if tenant == "initech":
            assert usage["prompt_tokens_details"]["cached_tokens"] == 0
            # the same tokens stored again, as initech's blocks: other hashes, another tenant salt
            mine = [e for e in target.stored() if e.extra_keys[0][2] == salt_of("acme", acme["body"])]
            assert {tuple(e.token_ids) for e in new} <= {tuple(e.token_ids) for e in mine}
            assert not {h for e in new for h in e.block_hashes} & {h for e in mine for h in e.block_hashes}
            assert {e.extra_keys[0][2] for e in new} == {salt_of("initech", acme["body"])}
        else:  # the control: acme's own repeat reads everything but the generation prompt
            assert new == []
            assert usage["prompt_tokens_details"]["cached_tokens"] > 0.9 * usage["prompt_tokens"]


def test_one_key_two_salts_are_kept_apart(routed):
    """vLLM's ``cache_salt``, forwarded by the gateway: requests under one API key with different salts never
    share cached KV (a gateway that sends all its clients under one engine key keeps them apart this way)."""
    url, replicas, workload, rows, _ = routed
    acme = next(row for row in rows if (row["turn"].tenant, row["turn"].plan) == ("acme", "backend"))
    target = replicas[acme["replica"]]
    other = {**acme["body"], "cache_salt": "another-salt-than-acmes"}
    headers = {"authorization": f"Bearer {TENANT_KEY['acme']}", HEADER: acme["headers"][HEADER.lower()]}
    usages = []
    for _ in range(2):  # the first reads nothing of acme's cache; the repeat reads its own
        r = httpx.post(url + "/v1/chat/completions", json=other, headers=headers, timeout=120)
        r.raise_for_status()
        usages.append(r.json()["usage"])
        if len(usages) == 1:
            new = target.drain_until(lambda got: any(isinstance(e, BlockStored)
                                                     and e.extra_keys[0][2] == salt_of("acme", other) for e in got))
        else:
            new = target.drain()
        new = [e for e in new if isinstance(e, BlockStored)]
        if len(usages) == 1:  # stored on acme's replica again: other hashes, another salt
            mine = [e for e in target.stored() if e.extra_keys[0][2] == salt_of("acme", acme["body"])]
            assert new and {tuple(e.token_ids) for e in new} <= {tuple(e.token_ids) for e in mine}
            assert not {h for e in new for h in e.block_hashes} & {h for e in mine for h in e.block_hashes}
            assert {e.extra_keys[0][2] for e in new} == {salt_of("acme", other)} != {salt_of("acme", acme["body"])}
        else:
            assert new == []
    assert usages[0]["prompt_tokens_details"]["cached_tokens"] == 0
    # everything but the generation prompt is read
    assert usages[1]["prompt_tokens_details"]["cached_tokens"] > 0.9 * usages[1]["prompt_tokens"]
    # a salt that is not a non-empty string is the client's mistake, located (the gateway passes the 400 on)
    r = httpx.post(url + "/v1/chat/completions", json={**other, "cache_salt": ""}, headers=headers, timeout=120)
    assert r.status_code == 400 and r.json()["error"]["param"] == "cache_salt"


def test_delete_drops_every_salted_scope_of_the_tenant(routed):
    """``DELETE /v1/cache`` with acme's key drops acme's blocks under every salt it used, and nobody else's;
    ``GET /v1/cache/stats`` shows the unsalted scope, which acme's salted requests never filled."""
    url, replicas, workload, rows, _ = routed
    acme = next(row for row in rows if (row["turn"].tenant, row["turn"].plan) == ("acme", "backend"))
    target = replicas[acme["replica"]]
    target.drain()
    auth = {"authorization": f"Bearer {TENANT_KEY['acme']}"}
    assert httpx.get(target.url + "/v1/cache/stats", headers=auth).json()["nodes"] == 0
    removed_before = {h for e in target.received if isinstance(e, BlockRemoved) for h in e.block_hashes}
    salts = {salt_of("acme", acme["body"]), salt_of("acme", {"cache_salt": "another-salt-than-acmes"})}
    held = {h for e in target.stored() if e.extra_keys[0][2] in salts for h in e.block_hashes} - removed_before
    others = {h for e in target.stored() if e.extra_keys[0][2] not in salts for h in e.block_hashes}
    assert held and others  # acme's two scopes, and initech's (and maybe globex's) blocks
    r = httpx.request("DELETE", target.url + "/v1/cache", headers=auth)
    r.raise_for_status()
    assert r.json()["freed_bytes"] > 0
    removed = [e for e in target.drain_until(lambda got: held <= {h for e in got if isinstance(e, BlockRemoved)
                                                                  for h in e.block_hashes})
               if isinstance(e, BlockRemoved)]
    assert {h for e in removed for h in e.block_hashes} == held


def test_hit_rates_match_the_simulated_fleet(routed):
    """The simulator's fleet (16-token blocks of o200k_base per replica, salted per tenant) serving the same
    request sequence, placed where the gateway placed it, predicts every request's hit or miss; its own
    consistent-hash routing predicts the same for every request that does not depend on which keys share a
    replica (all but each key's first request)."""
    url, replicas, workload, rows, _ = routed
    encode = load_tokenizer("o200k_base").encode
    sim = Fleet(len(replicas), "routing_key")
    predicted = []
    for row in rows:
        ids = chat_ids(encode, row["body"])
        predicted.append(sim.replicas[row["replica"]].cache.run(ids, row["body"].get("cache_salt")) > 0)
    observed = [row["reply"].usage.cache_read > 0 for row in rows]
    assert observed == predicted
    assert sum(observed) >= len({routing_key(r["turn"].request, r["turn"].tenant) for r in rows})  # turn 1 hits
    own = replay(workload, encode, replicas=len(replicas))  # the simulator's own routing of the same sequence
    seen: set[tuple] = set()
    for row, s in zip(rows, own.served):
        key = (row["turn"].tenant, row["turn"].plan)
        if key in seen:
            assert s.cached > 0 and row["reply"].usage.cache_read > 0
        seen.add(key)


def test_the_engine_reads_exactly_what_its_events_say_it_holds(routed):
    """Every request's cached tokens, from the KV events alone: a message node stored before on the same
    replica for the same tenant is read whole; a new one reads the tokens it shares with a stored sibling."""
    url, replicas, workload, rows, _ = routed
    for i, r in enumerate(replicas):
        nodes = {}  # (chain hash, tenant salt) -> its BlockStored event
        for e in r.stored():
            nodes.setdefault((e.extra_keys[0][1], e.extra_keys[0][2]), e)
        for n, row in enumerate(rows):
            if row["replica"] != i:
                continue
            salt = salt_of(row["turn"].tenant, row["body"])
            # the scope's nodes on this replica before this request: the earlier requests' messages
            before = {(c, salt) for prev in rows[:n]
                      if prev["replica"] == i and salt_of(prev["turn"].tenant, prev["body"]) == salt
                      for c in message_chain(prev["body"])}
            read, parent = 0, None
            for c in message_chain(row["body"]):
                node = nodes[(c, salt)]
                assert node.block_size == len(node.token_ids) > 0
                if (c, salt) not in before:  # new: it reads what it shares with a sibling stored before, then stops
                    read += shared(node.token_ids, [nodes[k].token_ids for k in before
                                                    if nodes[k].parent_block_hash == parent])
                    break
                read += node.block_size  # stored before: read whole
                parent = node.block_hashes[0]
            assert row["reply"].usage.cache_read == read


def test_kv_events_chain_and_replay_after_a_subscriber_restart(routed):
    """``promptc serve --kv-events --kv-events-replay`` end to end: the stored chain of a request, then a
    router restarts (its SUB socket closes), misses a request, and catches up through the replay socket."""
    url, replicas, workload, rows, _ = routed
    row = rows[0]
    target = replicas[row["replica"]]
    # the request's chain: one block per message, each linked to its parent, the first to none
    salt = salt_of(row["turn"].tenant, row["body"])
    nodes = [next(e for e in target.stored() if tuple(e.extra_keys[0][1:3]) == (c, salt))
             for c in message_chain(row["body"])]
    assert nodes[0].parent_block_hash is None
    assert [n.parent_block_hash for n in nodes[1:]] == [n.block_hashes[0] for n in nodes[:-1]]
    fingerprint = httpx.get(target.url + "/health").json()["fingerprint"]
    assert {n.extra_keys[0][3] for n in nodes} == {fingerprint}
    assert sum(n.block_size for n in nodes) < row["reply"].usage.prompt  # plus the generation prompt
    # the router restarts: its subscription is gone while another request of the same plan runs
    live = list(target.received)
    target.sub.close(linger=0)
    w = row["turn"]
    rec = Recorder()
    session = promptc.compile(REPO / "examples" / "team").plans[w.plan].bind()
    with Client(TARGET[w.tenant], base_url=url + "/v1", api_key=TENANT_KEY[w.tenant], tenant=w.tenant,
                config=CONFIG, http_client=rec.http) as client:
        missed_req = session.render(file="src/replay.py", query="Turn 9: what did the router miss?")
        client.complete(missed_req, max_tokens=1, temperature=0.0)
    rec.http.close()
    missed = message_chain(rec.sent[-1][1])[-1]
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.connect(target.replay_endpoint)
    dealer.send_multipart([b"", (0).to_bytes(8, "big")])  # what vLLM's REQ replay client sends
    seqs, events = [], []
    while True:
        assert dealer.poll(30_000), "no replay answer within 30 s"
        _, seq, payload = dealer.recv_multipart()
        n = int.from_bytes(seq, "big", signed=True)
        if n == -1:
            assert payload == b""
            break
        seqs.append(n)
        events.extend(DECODE.decode(payload).events)
    dealer.close(linger=0)
    assert seqs == list(range(len(seqs)))
    # a new publisher first told routers to forget it (sent before any subscriber joined); then exactly what
    # the subscriber saw live, in order; then what it missed
    assert isinstance(events[0], AllBlocksCleared)
    assert events[1:1 + len(live)] == live
    assert [e.extra_keys[0][1] for e in events[1 + len(live):] if isinstance(e, BlockStored)][-1] == missed
    target.subscribe()  # the restarted router subscribes again for what comes next
