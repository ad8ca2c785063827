"""Back-pressure and deadlines: a full queue answers 429 with retry-after (E711), an expired request is
cancelled with E712 and frees everything it held, a malformed timeout is E713; and a join/leave
stress test over HTTP with random arrivals, disconnects, deadlines and refusals."""

from __future__ import annotations

import concurrent.futures
import json
import random
import threading
import time

import httpx
import openai
import pytest

from promptc.core.engine_errors import InvalidLimit
from promptc.core.hashing import segment_hash
from promptc.engine import Engine
from promptc.engine.server import EngineServer, ServerConfig, ServerThread

from tests.engine.tiny import tiny_weights


def seg(id_, role, content):
    return {"id": id_, "hash": segment_hash(role, content), "role": role, "content": content}


SYSTEM = seg("rules", "system", "You are a concise assistant. Answer in one short sentence.")
FOREVER = seg("forever", "user", "Write forever.")  # a random tiny model practically never samples EOS


def _wait(cond, what: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        time.sleep(0.01)


def assert_all_freed(engine: Engine) -> None:
    _wait(lambda: engine.scheduler.active() == 0, "the scheduler to drain")
    assert all(n.refs == 0 for n in engine.tree.nodes()), "a tree reference leaked"
    assert engine.pool.in_use == 0, "a KV buffer leaked"
    assert engine.tree.bytes_used == engine.tree.stored_bytes() <= engine.tree.budget_bytes
    with engine._inflight_lock:
        assert not engine._inflight, "an in-flight registration leaked"


@pytest.fixture(scope="module")
def tiny(smollm_weights):
    return tiny_weights(smollm_weights, layers=2)


def test_a_full_queue_answers_429_with_retry_after(tiny):
    engine = Engine(weights=tiny, budget_bytes=16 << 20)
    config = ServerConfig(max_queue=2, retry_after_s=3)
    with ServerThread(EngineServer(engine, config)) as st:
        body = {"segments": [SYSTEM, seg("q", "user", "Name a colour.")], "max_tokens": 3}
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            with engine.scheduler.hold():  # nothing is admitted: the queue fills
                queued = [pool.submit(httpx.post, st.url + "/v1/chat/completions", json=body, timeout=120)
                          for _ in range(2)]
                _wait(lambda: engine.scheduler.queue_depth() == 2, "two queued requests")
                r = httpx.post(st.url + "/v1/chat/completions", json=body, timeout=120)
                assert r.status_code == 429
                assert r.headers["retry-after"] == "3"
                err = r.json()["error"]
                assert err["code"] == "queue_full" and err["type"] == "rate_limit_error"
                assert err["message"].startswith("E711") and "limit 2" in err["message"]
                # the official SDK maps it to RateLimitError
                sdk = openai.OpenAI(base_url=st.url + "/v1", api_key="x", max_retries=0)
                with pytest.raises(openai.RateLimitError):
                    sdk.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=2)
                # warming is queued work too
                w = httpx.post(st.url + "/v1/cache/warm", json={"segments": [SYSTEM]}, timeout=120)
                assert w.status_code == 429 and w.json()["error"]["code"] == "queue_full"
            assert all(f.result().status_code == 200 for f in queued)  # the queued ones were served
        assert httpx.post(st.url + "/v1/chat/completions", json=body, timeout=120).status_code == 200  # room again
        m = httpx.get(st.url + "/metrics").text
        assert 'promptc_requests_total{tenant="default",status="queue_full"} 3' in m
        assert engine.scheduler.stats.rejected == 3
        assert_all_freed(engine)
    engine.close()


def test_the_deadline_cancels_generation_and_frees_everything(tiny):
    engine = Engine(weights=tiny, budget_bytes=16 << 20)
    config = ServerConfig(max_tokens_limit=4000, deadline_s=30)
    with ServerThread(EngineServer(engine, config)) as st:
        body = {"segments": [SYSTEM, FOREVER], "max_tokens": 4000, "timeout": 1}
        r = httpx.post(st.url + "/v1/chat/completions", json=body, timeout=120)
        assert r.status_code == 504, r.text
        err = r.json()["error"]
        assert err["code"] == "deadline_exceeded" and err["param"] == "timeout"
        assert err["message"].startswith("E712") and "deadline of 1 s" in err["message"]
        stats = engine.scheduler.stats
        assert stats.expired == 1 and stats.finished == 0
        generated = stats.generated_tokens
        assert generated < 4000
        assert_all_freed(engine)
        assert engine.tree.nodes(), "the prompt's segments stay cached: only the request was cancelled"
        time.sleep(0.2)
        assert stats.generated_tokens == generated  # nothing runs on after the deadline

        # streaming, with the deadline in a header: the stream ends with a coded error event
        stream = {"segments": [SYSTEM, FOREVER], "max_tokens": 4000, "stream": True}
        with httpx.stream("POST", st.url + "/v1/chat/completions", json=stream, timeout=120,
                          headers={"x-promptc-timeout": "1"}) as resp:
            assert resp.status_code == 200
            events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        last = json.loads(events[-2])
        assert last["error"]["code"] == "deadline_exceeded" and "E712" in last["error"]["message"]
        assert stats.expired == 2
        assert_all_freed(engine)
        m = httpx.get(st.url + "/metrics").text
        assert 'promptc_requests_total{tenant="default",status="deadline_exceeded"} 2' in m
    engine.close()


def test_the_server_default_deadline_applies_and_a_queued_request_expires(tiny):
    engine = Engine(weights=tiny, budget_bytes=16 << 20)
    with ServerThread(EngineServer(engine, ServerConfig(max_tokens_limit=4000, deadline_s=0.5))) as st:
        body = {"segments": [SYSTEM, FOREVER], "max_tokens": 4000}
        r = httpx.post(st.url + "/v1/chat/completions", json={**body, "timeout": 1000}, timeout=120)
        assert r.status_code == 504  # a request may not extend the server's deadline
        with engine.scheduler.hold():  # never admitted: it expires in the queue, before any KV is allocated
            r = httpx.post(st.url + "/v1/chat/completions", json=body, timeout=120)
            assert r.status_code == 504 and "waiting in the queue" in r.json()["error"]["message"]
            assert engine.pool.in_use == 0
        assert engine.scheduler.stats.expired == 2
        assert_all_freed(engine)
    engine.close()


@pytest.mark.parametrize("timeout, header, param", [
    (-1, None, "timeout"), (0, None, "timeout"), ("30", None, "timeout"), (True, None, "timeout"),
    ([5], None, "timeout"), (None, "soon", "x-promptc-timeout"), (None, "nan", "x-promptc-timeout"),
    (None, "-2", "x-promptc-timeout")])
def test_a_malformed_timeout_is_e713(tiny, timeout, header, param):
    engine = Engine(weights=tiny, budget_bytes=1 << 20)
    with ServerThread(EngineServer(engine)) as st:
        body = {"segments": [SYSTEM], "max_tokens": 2}
        if timeout is not None:
            body["timeout"] = timeout
        r = httpx.post(st.url + "/v1/chat/completions", content=json.dumps(body), timeout=60,
                       headers={"content-type": "application/json",
                                **({"x-promptc-timeout": header} if header else {})})
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["param"] == param and err["message"].startswith("E713")
        assert engine.scheduler.stats.steps == 0  # refused before anything was queued
    engine.close()


@pytest.mark.parametrize("kw", [{"max_queue": 0}, {"retry_after_s": -1}, {"deadline_s": 0},
                                {"deadline_s": float("inf")}])
def test_bad_back_pressure_settings_are_e702(kw):
    with pytest.raises(InvalidLimit) as exc:
        ServerConfig(**kw)
    assert "E702" in str(exc.value)


def test_join_leave_stress_over_http(smollm_weights):
    """Random arrivals through the HTTP server: clients that finish, disconnect mid-stream, run past
    their deadline or are refused by a full queue. The budget is never exceeded; at the end no tree
    reference, KV buffer or in-flight registration is left, and every outcome is counted once."""
    engine = Engine(weights=tiny_weights(smollm_weights, layers=2), budget_bytes=150_000, max_batch=3, chunk_tokens=32)
    config = ServerConfig(max_tokens_limit=4000, max_queue=3, retry_after_s=1)
    rng = random.Random(7)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    pool = [seg(f"s{i}", "system", " ".join(rng.choices(words, k=rng.randint(4, 40)))) for i in range(6)]
    plans = [(rng.choice(["finish", "finish", "disconnect", "deadline"]), rng.sample(pool, rng.randint(1, 3)),
              rng.random() * 0.05, rng.randint(1, 8)) for _ in range(30)]
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    violations: list[str] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if engine.tree.bytes_used > engine.tree.budget_bytes:
                violations.append(f"budget exceeded: {engine.tree.bytes_used}")
            stop.wait(0.001)

    def client(plan):
        kind, segs, delay, short = plan
        time.sleep(delay)
        body = {"segments": segs, "max_tokens": short if kind == "finish" else 3000}
        if kind == "deadline":
            body["timeout"] = 0.2
        if kind == "disconnect":
            with httpx.stream("POST", st.url + "/v1/chat/completions", json={**body, "stream": True},
                              timeout=120) as r:
                if r.status_code == 200:
                    lines = r.iter_lines()
                    for _ in range(3):
                        next(lines, None)
                result = "cancelled" if r.status_code == 200 else str(r.status_code)
        else:
            r = httpx.post(st.url + "/v1/chat/completions", json=body, timeout=120)
            result = {200: "ok", 504: "deadline_exceeded"}.get(r.status_code, str(r.status_code))
        if r.status_code == 429:
            assert r.headers["retry-after"] == "1"
            result = "queue_full"
        with lock:
            outcomes[result] = outcomes.get(result, 0) + 1

    with ServerThread(EngineServer(engine, config)) as st:
        watcher = threading.Thread(target=watch)
        watcher.start()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(client, plans))
        stop.set()
        watcher.join()
        assert_all_freed(engine)
        metrics = httpx.get(st.url + "/metrics").text
    assert not violations
    assert set(outcomes) <= {"ok", "cancelled", "deadline_exceeded", "queue_full"}, outcomes
    assert outcomes.get("ok") and outcomes.get("cancelled") and outcomes.get("deadline_exceeded")
    for status, n in outcomes.items():
        assert f'promptc_requests_total{{tenant="default",status="{status}"}} {n}' in metrics, (status, n)
    assert engine.scheduler.stats.max_batch >= 2
    engine.close()


@pytest.mark.parametrize("args,code", [
    (["serve", "--max-queue", "0"], "E702"),
    (["serve", "--retry-after", "soon"], "E702"),
    (["serve", "--deadline", "-1"], "E702"),
    (["serve", "--metrics-key", " "], "E714"),
])
def test_bad_serve_options_exit_2_with_a_code(monkeypatch, capsys, args, code):
    from tests.security.test_server_config import run_cli

    monkeypatch.delenv("PROMPTC_METRICS_KEY", raising=False)
    rc, err = run_cli(monkeypatch, capsys, *args)
    assert rc == 2 and f"error[{code}]" in err
    assert "internal error" not in err and "loading" not in err


def test_the_metrics_key_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PROMPTC_METRICS_KEY", "scrape")
    assert ServerConfig.from_sources(None).metrics_key == "scrape"
    monkeypatch.setenv("PROMPTC_API_KEYS", "scrape=tenant-a")
    with pytest.raises(Exception, match="E714"):
        ServerConfig.from_sources(None)
