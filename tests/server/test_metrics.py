"""GET /metrics: valid Prometheus text, numbers that move as requests run, and tenant scopes that
never show one tenant another tenant's series."""

from __future__ import annotations

import math
import re
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from promptc.core.engine_errors import MetricsKeyError
from promptc.core.hashing import segment_hash
from promptc.engine import Engine
from promptc.engine.server import EngineServer, ServerConfig, ServerThread

from tests.engine.tiny import tiny_weights

KEYS = {"key-a": "tenant-a", "key-b": "tenant-b"}
METRICS_KEY = "scrape-key"
PROCESS_WIDE = ("promptc_queue_depth", "promptc_running_requests", "promptc_batch_size", "promptc_kv_tree_bytes_used",
                "promptc_kv_tree_budget_bytes", "promptc_decode_steps_total")
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                     r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (\S+)$')


def seg(id_, role, content):
    return {"id": id_, "hash": segment_hash(role, content), "role": role, "content": content}


SYSTEM = seg("rules", "system", "You are a concise assistant. Answer in one short sentence.")


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """Parse with the reference parser and check the format strictly: every sample line is well formed,
    belongs to a family declared by ``# TYPE`` before it, and histograms are cumulative with
    ``+Inf == _count``. Returns ``{(sample name, sorted labels): value}``."""
    assert text.endswith("\n")
    declared: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in declared, f"family {name} declared twice"
            assert kind in ("counter", "gauge", "histogram")
            declared[name] = kind
        elif line.startswith("# HELP "):
            continue
        else:
            m = _SAMPLE.match(line)
            assert m, f"malformed sample line: {line!r}"
            name = m.group(1)
            family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in declared else name
            assert family in declared, f"{name} has no # TYPE line before it"
            float(m.group(3))
    samples: dict[tuple[str, tuple], float] = {}
    for fam in text_string_to_metric_families(text):
        assert fam.type == declared[fam.name if fam.name in declared else fam.name + "_total"], fam.name
        buckets: dict[tuple, list[tuple[float, float]]] = {}
        for s in fam.samples:
            labels = tuple(sorted(s.labels.items()))
            samples[(s.name, labels)] = s.value
            if s.name.endswith("_bucket"):
                rest = tuple(kv for kv in labels if kv[0] != "le")
                buckets.setdefault(rest, []).append((float(s.labels["le"]), s.value))
        for rest, bs in buckets.items():
            bs.sort()
            assert bs[-1][0] == math.inf
            assert all(a[1] <= b[1] for a, b in zip(bs, bs[1:])), f"{fam.name}: buckets not cumulative"
            assert bs[-1][1] == samples[(fam.name + "_count", rest)]
    return samples


def value(samples, name, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def scrape(url: str, key: str | None = None) -> dict:
    r = httpx.get(url + "/metrics", headers={"authorization": f"Bearer {key}"} if key else {}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def _wait(cond, what: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def tiny(smollm_weights):
    return tiny_weights(smollm_weights, layers=2)


def test_metrics_parse_and_move_as_requests_run(tiny):
    engine = Engine(weights=tiny, budget_bytes=64 << 20)
    with ServerThread(EngineServer(engine, ServerConfig(max_tokens_limit=4000, max_queue=7))) as st:
        before = scrape(st.url)
        assert value(before, "promptc_queue_limit") == 7
        assert value(before, "promptc_queue_depth") == 0
        assert value(before, "promptc_kv_tree_budget_bytes") == 64 << 20
        body = {"segments": [SYSTEM, seg("q", "user", "Name a colour.")], "max_tokens": 5}
        first = httpx.post(st.url + "/v1/chat/completions", json=body, timeout=120).json()
        body["segments"][1] = seg("q2", "user", "Name an animal.")
        second = httpx.post(st.url + "/v1/chat/completions", json=body, timeout=120).json()
        after = scrape(st.url)
        t = {"tenant": "default"}
        computed = first["promptc"]["computed_tokens"] + second["promptc"]["computed_tokens"]
        assert value(after, "promptc_prompt_tokens_computed_total", **t) == computed
        assert value(after, "promptc_prompt_tokens_cached_total", **t) == \
            second["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
        completion = first["usage"]["completion_tokens"] + second["usage"]["completion_tokens"]
        assert value(after, "promptc_generated_tokens_total", **t) == completion
        assert value(after, "promptc_requests_total", status="ok", **t) == 2
        assert value(after, "promptc_time_to_first_token_seconds_count", **t) == 2
        assert value(after, "promptc_inter_token_latency_seconds_count", **t) >= completion - 2
        assert value(after, "promptc_time_to_first_token_seconds_sum", **t) > 0
        assert value(after, "promptc_kv_tree_bytes", **t) == engine.tree.bytes_used > 0
        assert value(after, "promptc_kv_tree_nodes", **t) == 3  # rules, q, q2
        assert value(after, "promptc_decode_steps_total") > value(before, "promptc_decode_steps_total")

        # while a long request runs, the running gauges and the batch size show it
        stream = {"segments": [SYSTEM, seg("long", "user", "Write forever.")], "max_tokens": 4000, "stream": True}
        with httpx.stream("POST", st.url + "/v1/chat/completions", json=stream, timeout=120) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")
            _wait(lambda: engine.scheduler.stats.generated_tokens > completion + 2, "decoding")
            during = scrape(st.url)
            assert value(during, "promptc_running_requests", phase="decode") == 1
            assert value(during, "promptc_batch_size") == 1
        _wait(lambda: engine.scheduler.active() == 0, "the stream to be cancelled")
        done = scrape(st.url)
        assert value(done, "promptc_running_requests", phase="decode") == 0
        assert value(done, "promptc_requests_total", status="cancelled", **t) == 1
    engine.close()


def test_metrics_scopes_never_cross_tenants(tiny):
    engine = Engine(weights=tiny, budget_bytes=64 << 20)
    config = ServerConfig(api_keys=KEYS, metrics_key=METRICS_KEY)
    with ServerThread(EngineServer(engine, config)) as st:
        for key, q in (("key-a", "Name a colour."), ("key-b", "Name a fruit."), ("key-b", "Name a tree.")):
            r = httpx.post(st.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, timeout=120,
                           json={"segments": [SYSTEM, seg("q", "user", q)], "max_tokens": 3})
            assert r.status_code == 200, r.text
        operator = scrape(st.url, METRICS_KEY)
        assert value(operator, "promptc_requests_total", tenant="tenant-a", status="ok") == 1
        assert value(operator, "promptc_requests_total", tenant="tenant-b", status="ok") == 2
        assert all((name, ()) in operator for name in PROCESS_WIDE if name != "promptc_running_requests")
        computed = "promptc_prompt_tokens_computed_total"
        # b computed two questions, a one: a tenant's own numbers are not the total
        assert value(operator, computed, tenant="tenant-b") > value(operator, computed, tenant="tenant-a") > 0
        for key, own in (("key-a", "tenant-a"), ("key-b", "tenant-b")):
            mine = scrape(st.url, key)
            tenants = {dict(labels).get("tenant") for _, labels in mine}
            assert tenants == {own}, f"{own} sees series of {tenants - {own}}"
            assert not any(name.startswith(PROCESS_WIDE) for name, _ in mine)
            for (name, labels), v in mine.items():  # the same numbers the operator sees for that tenant
                assert operator[(name, labels)] == v
            stats = httpx.get(st.url + "/v1/cache/stats", headers={"authorization": f"Bearer {key}"}).json()
            assert stats["tenant"] == own
            assert stats["computed_tokens"] == value(mine, "promptc_prompt_tokens_computed_total", tenant=own)
            assert stats["bytes"] == value(mine, "promptc_kv_tree_bytes", tenant=own)
        r = httpx.get(st.url + "/metrics", headers={"authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(st.url + "/metrics").status_code == 401
    engine.close()


def test_invalid_requests_are_counted_for_their_tenant(tiny):
    engine = Engine(weights=tiny, budget_bytes=16 << 20)
    with ServerThread(EngineServer(engine, ServerConfig(api_keys=KEYS))) as st:
        bad = dict(SYSTEM, hash="sha256:" + "0" * 64)
        r = httpx.post(st.url + "/v1/chat/completions", headers={"authorization": "Bearer key-a"},
                       json={"segments": [bad]})
        assert r.status_code == 400
        m = scrape(st.url, "key-a")
        assert value(m, "promptc_requests_total", tenant="tenant-a", status="invalid") == 1
        assert value(scrape(st.url, "key-b"), "promptc_requests_total", tenant="tenant-b", status="invalid") == 0
    engine.close()


def test_metrics_while_requests_run_concurrently_stays_parseable(tiny):
    """Scrapes racing with running requests always parse (a snapshot is consistent)."""
    engine = Engine(weights=tiny, budget_bytes=1 << 20)
    errors: list[BaseException] = []
    with ServerThread(EngineServer(engine)) as st:
        def ask(i):
            try:
                httpx.post(st.url + "/v1/chat/completions", timeout=120, json={
                    "segments": [seg(f"s{i % 3}", "system", f"Agent {i % 3}. " * 30), seg("q", "user", f"Q{i}")],
                    "max_tokens": 4})
            except BaseException as exc:  # reported below
                errors.append(exc)
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            scrape(st.url)
        for t in threads:
            t.join()
        final = scrape(st.url)
    assert not errors
    assert value(final, "promptc_requests_total", tenant="default", status="ok") == 6
    assert value(final, "promptc_kv_tree_bytes_used") <= value(final, "promptc_kv_tree_budget_bytes")
    engine.close()


@pytest.mark.parametrize("kw", [{"metrics_key": "key-a"}, {"metrics_key": ""}, {"metrics_key": "two words"}])
def test_a_bad_metrics_key_is_e714(kw):
    with pytest.raises(MetricsKeyError) as exc:
        ServerConfig(api_keys=KEYS, **kw)
    assert "E714" in str(exc.value)
