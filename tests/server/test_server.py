"""The engine server over real loopback HTTP, with the official openai client and httpx."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

import promptc
from promptc.core.hashing import segment_hash
from promptc.engine import Engine
from promptc.engine.server import EngineServer, ServerConfig, ServerThread
from promptc.runtime.engine_client import AsyncEngineClient, EmbeddedClient, EngineClient, split_request

REPO = Path(__file__).resolve().parents[2]
KEYS = {"key-a": "tenant-a", "key-b": "tenant-b"}


def seg(id_, role, content):
    return {"id": id_, "hash": segment_hash(role, content), "role": role, "content": content}


SYSTEM = seg("rules", "system", "You are a concise assistant. Answer in one short sentence.")
CONTEXT = seg("ctx", "system", "The project is called promptc. It compiles prompts and caches KV state per segment.")
QUESTION = {"role": "user", "content": "What does promptc cache?"}


@pytest.fixture(scope="module")
def server(smollm_weights):
    engine = Engine(weights=smollm_weights, budget_bytes=512 << 20)
    with ServerThread(EngineServer(engine, ServerConfig(api_keys=KEYS, max_body_bytes=1 << 20, max_segments=16,
                                                        max_tokens_limit=256))) as st:
        st.engine = engine
        yield st


def client(server, key="key-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def test_openai_client_non_streaming_reports_cache_usage(server):
    c = client(server)
    body = {"segments": [SYSTEM, CONTEXT]}
    first = c.chat.completions.create(model="smollm2-135m-instruct", messages=[QUESTION], max_tokens=24,
                                      extra_body=body)
    second = c.chat.completions.create(model="smollm2-135m-instruct", messages=[QUESTION], max_tokens=24,
                                       extra_body=body)
    assert first.choices[0].message.content and first.choices[0].message.content == second.choices[0].message.content
    assert first.usage.prompt_tokens == second.usage.prompt_tokens
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    ext = second.model_extra["promptc"]
    assert [s["status"] for s in ext["segments"]] == ["hit", "hit"]
    cached = sum(s["tokens"] for s in ext["segments"])
    assert second.usage.prompt_tokens_details.cached_tokens == cached == second.usage.model_extra["cached_prefix_tokens"]
    assert second.usage.completion_tokens == first.usage.completion_tokens > 0


def test_streaming_matches_non_streaming_and_ends_with_usage(server):
    c = client(server)
    kw = dict(model="smollm2-135m-instruct", messages=[QUESTION], max_tokens=24, extra_body={"segments": [SYSTEM]})
    whole = c.chat.completions.create(**kw).choices[0].message.content
    chunks = list(c.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens_details.cached_tokens > 0
    assert any(ch.choices and ch.choices[0].finish_reason for ch in chunks)


def test_ignore_eos_generates_max_tokens_past_the_end_of_sequence(server):
    """vLLM's ``ignore_eos`` (an extra sampling parameter, as the OpenAI SDK's ``extra_body`` sends it): the
    answer that ended with the model's end-of-sequence token goes on to exactly ``max_tokens`` tokens,
    finish_reason ``length``, its first tokens the same greedy answer; without it the answer stops there."""
    c = client(server)
    kw = dict(model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Say hi."}], max_tokens=64,
              extra_body={"segments": [seg("one", "system", "Answer with one word.")]})
    short = c.chat.completions.create(**kw)
    assert short.choices[0].finish_reason == "stop" and short.usage.completion_tokens < 64
    kw["extra_body"]["ignore_eos"] = True
    long = c.chat.completions.create(**kw)
    assert long.choices[0].finish_reason == "length" and long.usage.completion_tokens == 64
    assert long.choices[0].message.content.startswith(short.choices[0].message.content)
    bad = httpx.post(server.url + "/v1/chat/completions", headers={"authorization": "Bearer key-a"},
                     json={**kw["extra_body"], "messages": kw["messages"], "ignore_eos": "sometimes"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "ignore_eos"


def test_usage_agrees_with_the_tree_stats(server):
    http = httpx.Client(base_url=server.url, headers={"authorization": "Bearer key-a"})
    before = http.get("/v1/cache/stats").json()
    r = http.post("/v1/chat/completions", json={"segments": [SYSTEM, seg("u", "user", "Count to three.")],
                                                "max_tokens": 8}).json()
    after = http.get("/v1/cache/stats").json()
    u = r["usage"]
    assert after["cached_tokens"] - before["cached_tokens"] == u["prompt_tokens_details"]["cached_tokens"]
    assert after["computed_tokens"] - before["computed_tokens"] == u["prompt_tokens"] - u["prompt_tokens_details"]["cached_tokens"]
    assert after["requests"] == before["requests"] + 1


def test_tenants_are_isolated(server):
    secret = seg("secret", "system", "Tenant A's private instructions: the launch code is 0000.")
    a = httpx.Client(base_url=server.url, headers={"authorization": "Bearer key-a"})
    b = httpx.Client(base_url=server.url, headers={"authorization": "Bearer key-b"})
    warm = a.post("/v1/cache/warm", json={"segments": [secret]}).json()
    assert warm["cached_segments"] == 1 and warm["root_hash"].startswith("sha256:")
    b_before = b.get("/v1/cache/stats").json()
    r = b.post("/v1/chat/completions", json={"segments": [secret], "max_tokens": 4}).json()
    assert r["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert r["promptc"]["segments"][0]["status"] == "computed"
    b_after = b.get("/v1/cache/stats").json()
    assert b_after["tenant"] == "tenant-b" and b_after["hits"] == b_before["hits"]
    assert b.delete("/v1/cache").json()["deleted"] is True
    r = a.post("/v1/chat/completions", json={"segments": [secret], "max_tokens": 4}).json()
    assert r["promptc"]["segments"][0]["status"] == "hit"  # B's delete never touches A


def test_hash_mismatch_is_rejected(server):
    bad = dict(SYSTEM, content=SYSTEM["content"] + " (tampered)")
    with pytest.raises(openai.BadRequestError) as e:
        client(server).chat.completions.create(model="smollm2-135m-instruct", messages=[QUESTION],
                                               extra_body={"segments": [bad]})
    err = e.value.body
    assert err["code"] == "segment_hash_mismatch" and err["param"] == "segments.0.hash"
    assert "does not match" in err["message"]


@pytest.mark.parametrize("payload,param", [
    (b"{not json", None),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
    ({"messages": [QUESTION], "temperature": "hot"}, "temperature"),
    ({"segments": [{"id": "x", "role": "user", "content": "no hash"}]}, "segments.0.hash"),
    ({"messages": [QUESTION], "max_tokens": 100000}, "max_tokens"),
    ({"segments": [seg(f"s{i}", "user", str(i)) for i in range(17)]}, "segments"),
    ({"messages": []}, "messages"),
    ({"messages": [QUESTION], "model": "gpt-9"}, "model"),
])
def test_bad_requests_get_openai_shaped_errors(server, payload, param):
    http = httpx.Client(base_url=server.url, headers={"authorization": "Bearer key-a"})
    if isinstance(payload, bytes):
        r = http.post("/v1/chat/completions", content=payload, headers={"content-type": "application/json"})
    else:
        r = http.post("/v1/chat/completions", json=payload)
    assert r.status_code in (400, 404)
    err = r.json()["error"]
    assert err["message"] and err["type"] == "invalid_request_error"
    assert err["param"] == param


def test_auth_size_limit_and_info_endpoints(server):
    r = httpx.post(server.url + "/v1/chat/completions", json={"messages": [QUESTION]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = httpx.post(server.url + "/v1/chat/completions", headers={"authorization": "Bearer key-a",
                                                                 "content-type": "application/json"},
                   content=b"x" * (2 << 20))
    assert r.status_code == 413
    models = client(server).models.list()
    assert [m.id for m in models.data] == ["smollm2-135m-instruct"]
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_concurrent_clients_match_a_serial_run(server):
    prompts = [seg(f"q{i}", "user", f"Name one colour and one animal, number {i}.") for i in range(8)]

    def ask(s):
        r = httpx.post(server.url + "/v1/chat/completions", headers={"authorization": "Bearer key-b"}, timeout=300,
                       json={"segments": [SYSTEM, s], "max_tokens": 12})
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]["content"]

    [ask(s) for s in prompts]  # warm: afterwards every request takes the same (all-hit) path
    serial = [ask(s) for s in prompts]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(ask, prompts))
    assert parallel == serial
    assert all(n.refs == 0 for n in server.engine.tree.nodes())


def test_disconnect_mid_stream_releases_references(server):
    body = {"segments": [SYSTEM, seg("long", "user", "Write a long story about a lighthouse keeper.")],
            "max_tokens": 200, "stream": True}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=300,
                      headers={"authorization": "Bearer key-a"}) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(3)]
        assert got[0].startswith("data: ")
        assert any(n.refs > 0 for n in server.engine.tree.nodes("tenant-a"))
    deadline = time.time() + 30
    while any(n.refs > 0 for n in server.engine.tree.nodes()) and time.time() < deadline:
        time.sleep(0.1)
    assert all(n.refs == 0 for n in server.engine.tree.nodes())


def test_memory_budget_holds_under_load(smollm_weights):
    engine = Engine(weights=smollm_weights, budget_bytes=24 << 20)
    with ServerThread(EngineServer(engine)) as st:
        def ask(i):
            segs = [seg(f"a{i}", "system", f"Agent {i}: " + "keep answers short. " * 20),
                    seg(f"b{i}", "user", f"Question {i}: what is {i} plus {i}?")]
            r = httpx.post(st.url + "/v1/chat/completions", json={"segments": segs, "max_tokens": 2}, timeout=300)
            assert r.status_code == 200, r.text
            assert engine.tree.bytes_used <= engine.tree.budget_bytes
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(ask, range(24)))
        stats = httpx.get(st.url + "/v1/cache/stats").json()
    assert stats["evictions"] > 0
    assert engine.tree.bytes_used == engine.tree.stored_bytes() <= engine.tree.budget_bytes


def test_runtime_adapter_sync_async_and_embedded(server, engine):
    plan = promptc.compile(REPO / "examples" / "team")["backend"]
    request = plan.bind().render(file="api/users.py", query="In one sentence: what is this file for?")
    segments, messages = split_request(request)
    assert [s["id"] for s in segments] == ["rules", "repo_tools", "backend", "backend_memory"]
    assert messages == [{"role": "user", "content": request.segments[-1].content}]
    with EngineClient(server.url, api_key="key-a") as c:
        warm = c.warm(request)
        assert warm["cached_segments"] == 4
        first = c.run(request, max_tokens=16)
        streamed = list(c.stream(request, max_tokens=16))
    final = streamed[-1]
    assert "".join(x for x in streamed[:-1]) == final.text == first.text
    assert [s["status"] for s in first.segments] == ["hit"] * 4 and first.cached_tokens > 0
    assert final.ttft_s is not None and final.ttft_s <= final.total_s

    async def go():
        async with AsyncEngineClient(server.url, api_key="key-a") as ac:
            return await ac.run(request, max_tokens=16)

    assert asyncio.run(go()).text == first.text
    embedded = EmbeddedClient(engine, tenant="embedded-test").run(request, max_tokens=16)
    assert embedded.text == first.text and embedded.cached_tokens == 0


def test_cli_run_against_a_server_and_embedded(server, tmp_path):
    out = tmp_path / "plans"
    subprocess.run([sys.executable, "-m", "promptc.cli", "build", str(REPO / "examples" / "support"), "--out", str(out),
                    "--lock", str(tmp_path / "lock")], check=True, capture_output=True)
    args = [sys.executable, "-m", "promptc.cli", "run", str(out / "support.plan.json"),
            "--input", 'customer={"name": "Ada", "plan": "pro", "open_tickets": 1}',
            "--input", "question=How do I download my invoice?", "--max-tokens", "12", "--json"]
    r = subprocess.run(args + ["--engine", server.url, "--api-key", "key-a"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    served = json.loads(r.stdout)
    assert served["text"] and served["usage"]["prompt_tokens"] > 0
    # the server fixture is fp32: the embedded run is compared with it in fp32 (the default is int4)
    r = subprocess.run(args + ["--embedded", "--dtype", "float32"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == served["text"]
    r = subprocess.run(args[:5] + ["--input", "nope=1", "--embedded"], capture_output=True, text=True)
    assert r.returncode == 2 and "error[E401]" in r.stderr and "nope: unknown input" in r.stderr


def test_promptc_serve_process_with_keys_and_run_on_a_prompt_file(tmp_path):
    """The real `promptc serve` process: API keys from a file, then `promptc run` on a .prompt file."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": {"sk-team": "team"}}))
    proc = subprocess.Popen([sys.executable, "-m", "promptc.cli", "serve", "--port", str(port), "--budget", "256MiB",
                             "--keys", str(keys)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else "timeout"
            time.sleep(0.5)
        assert httpx.get(url + "/v1/models").status_code == 401
        args = [sys.executable, "-m", "promptc.cli", "run", str(REPO / "examples" / "team" / "backend.prompt"),
                "--engine", url, "--api-key", "sk-team", "--input", "file=api/users.py",
                "--input", "query=Say hello.", "--max-tokens", "8", "--json"]
        first = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr
        second = json.loads(subprocess.run(args, capture_output=True, text=True, timeout=300).stdout)
        assert second["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
        assert [s["status"] for s in second["segments"]] == ["hit"] * 4
        r = subprocess.run(args[:5] + ["--engine", url], capture_output=True, text=True)
        assert r.returncode == 2 and "query" in r.stderr  # a missing turn input names the field
    finally:
        proc.terminate()
        proc.wait(timeout=30)
