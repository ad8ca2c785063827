"""Faults over real HTTP: retries per policy, typed errors, interrupted streams, and a trace that
neither loses nor duplicates a request. Sleeps are recorded, not slept."""

from __future__ import annotations

import json

import pytest

from promptc.runtime.client import Client, RetryPolicy
from promptc.runtime.errors import ProviderError, ProviderUnavailable, StreamInterrupted

KEY = "sk-ant-secret-key-0123456789"


def client(sim, trace=None, waits=None, **kw):
    return Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key=KEY, trace=trace,
                  sleep=(waits.append if waits is not None else lambda s: None), **kw)


def request(team, q="q"):
    return team["backend"].bind().render(file="a.py", query=q)


def test_429_with_retry_after_then_success(team, sim, tmp_path):
    waits: list[float] = []
    sim.inject(status=429, retry_after=7)
    sim.inject(status=503)
    with client(sim, tmp_path / "t.jsonl", waits) as c:
        reply = c.complete(request(team))
    assert reply.attempts == 3 and len(sim.requests) == 3
    assert waits[0] == 7.0 and 0 < waits[1] <= 1.0  # retry-after wins; then backoff with jitter
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["attempts"] == 3  # one record per request, not per attempt


def test_retries_exhausted_is_a_typed_error_with_request_id(team, sim):
    for _ in range(3):
        sim.inject(status=500, message=f"boom, key was {KEY}")
    with client(sim, waits=[]) as c, pytest.raises(ProviderError) as e:
        c.complete(request(team))
    err = e.value
    assert (err.code, err.status, err.provider, err.retryable, err.attempts) == ("E502", 500, "anthropic", True, 3)
    assert err.request_id.startswith("req_sim_") and KEY not in str(err)


@pytest.mark.parametrize("status,retried", [(400, False), (401, False), (404, False), (408, True), (409, True),
                                            (422, False), (529, True)])
def test_which_statuses_are_retried(team, sim, status, retried):
    sim.inject(status=status)
    with client(sim, waits=[]) as c:
        if retried:
            assert c.complete(request(team)).attempts == 2
        else:
            with pytest.raises(ProviderError) as e:
                c.complete(request(team))
            assert e.value.status == status and e.value.attempts == 1
    assert len(sim.requests) == (2 if retried else 1)


def test_timeout_is_retried_then_reported(team, sim):
    # a delayed answer times out; the undelayed retry must fit in the timeout even on a loaded machine
    # (0.2 s was too tight: the simulator's tokenizing alone can take that long under load)
    sim.inject(delay_s=6.0)
    with client(sim, waits=[], retry=RetryPolicy(timeout_s=2.0, max_retries=1)) as c:
        assert c.complete(request(team)).attempts == 2
    sim.inject(delay_s=6.0)
    sim.inject(delay_s=6.0)
    with client(sim, waits=[], retry=RetryPolicy(timeout_s=2.0, max_retries=1)) as c, \
            pytest.raises(ProviderUnavailable) as e:
        c.complete(request(team))
    assert e.value.code == "E506" and e.value.attempts == 2


def test_deadline_stops_retries(team, sim):
    sim.inject(status=429, retry_after=60)
    with client(sim, waits=[], retry=RetryPolicy(deadline_s=5)) as c, pytest.raises(ProviderError) as e:
        c.complete(request(team))
    assert e.value.status == 429 and len(sim.requests) == 1


def test_connection_refused_is_unavailable(team):
    c = Client("anthropic/claude-sonnet-4-5", base_url="http://127.0.0.1:9", api_key=KEY, sleep=lambda s: None)
    with pytest.raises(ProviderUnavailable) as e:
        c.complete(request(team))
    assert e.value.attempts == 3 and KEY not in str(e.value)


def test_a_dropped_stream_is_reported_not_truncated(team, sim, tmp_path):
    sim.inject(drop_after=4)
    trace = tmp_path / "t.jsonl"
    with client(sim, trace, []) as c:
        got = []
        with pytest.raises(StreamInterrupted) as e:
            for ev in c.stream(request(team)):
                got.append(ev)
        assert all(ev.type == "text" for ev in got)  # no "done" event for an incomplete reply
        assert e.value.code == "E505" and e.value.received_text == "".join(ev.text for ev in got)
        ok = list(c.stream(request(team)))
    assert ok[-1].type == "done"
    recs = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [r["status"] for r in recs] == ["error", "ok"] and recs[0]["error"]["code"] == "E505"


def test_openai_stream_without_done_is_interrupted(team, sim, low_min_config):
    sim.inject(drop_after=2)
    c = Client("openai/gpt-5.6", base_url=sim.url + "/v1", api_key=KEY, config=low_min_config, sleep=lambda s: None)
    with pytest.raises(StreamInterrupted):
        list(c.stream(request(team)))


def test_trace_has_every_request_once_under_mixed_faults(team, sim, tmp_path):
    trace = tmp_path / "t.jsonl"
    sim.inject(status=429, retry_after=0)
    sim.inject(status=400)
    sim.inject(status=500)
    sim.inject(status=500)
    sim.inject(status=500)
    outcomes = []
    with client(sim, trace, []) as c:
        for i in range(4):
            try:
                c.complete(request(team, f"q{i}"))
                outcomes.append("ok")
            except ProviderError:
                outcomes.append("error")
    recs = [json.loads(line) for line in trace.read_text().splitlines()]
    # q0: 429 then 400 (not retried); q1: three 500s (retries exhausted); q2, q3: fine
    assert [r["status"] for r in recs] == outcomes == ["error", "error", "ok", "ok"]
    assert [r["attempts"] for r in recs] == [2, 3, 1, 1]
    assert KEY not in trace.read_text()


def test_retry_after_forms():
    import email.utils
    import time

    import httpx

    policy = RetryPolicy(backoff_s=0.5)
    assert policy.delay(0, httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert policy.delay(0, httpx.Headers({"retry-after": "3"})) == 3.0
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < policy.delay(0, httpx.Headers({"retry-after": date})) <= 30
    assert 0.25 <= policy.delay(0, httpx.Headers({"retry-after": "soon"})) <= 0.5  # unreadable: backoff
    assert 1.0 <= policy.delay(2, None) <= 2.0
