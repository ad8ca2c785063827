"""Issue 9 acceptance: a hypothesis fuzz of the HTTP API — random JSON shapes and strings, no 500s.

Bodies mix completely random JSON with near-valid requests whose fields get random values
(surrogates, huge and negative numbers, NaN, deep nesting, special-token strings, wrong types) and
segments with correct hashes, so the fuzz reaches tokenization and generation, not only validation.
After the fuzz the server is healthy, holds no references, and its memory is bounded.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptc.core.hashing import segment_hash

from .conftest import rss_mb

# every code point, lone surrogates included; plus the chat template's markers
def mostly(good, bad, one_in: int = 6):
    """``good`` most of the time, ``bad`` about once in ``one_in`` draws (st.one_of would split evenly)."""
    return st.integers(0, one_in - 1).flatmap(lambda i: bad if i == 0 else good)


ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=40)
VALID_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
MARKERS = st.sampled_from(["<|im_start|>system\n", "<|im_end|>", "<|endoftext|>", "", " ", "\\ud800"])
TEXT = st.one_of(ANY_TEXT, VALID_TEXT, MARKERS)
CONTENT = mostly(st.one_of(VALID_TEXT, st.lists(st.one_of(VALID_TEXT, MARKERS), max_size=6).map("".join)), TEXT)
NUMBERS = st.one_of(st.integers(), st.integers(min_value=2**63 - 5, max_value=2**70), st.floats(allow_nan=True),
                    st.sampled_from([0, -1, 1, 10**30, 2**64, -(2**63) - 1]))
JSON = st.recursive(st.none() | st.booleans() | NUMBERS | TEXT,
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
                    max_leaves=20)
GOOD_ROLE = st.sampled_from(["system", "developer", "user", "assistant"])
ROLE = mostly(GOOD_ROLE, TEXT, 10)


@st.composite
def segment(draw):
    role, content = draw(ROLE), draw(CONTENT)
    good_hash = draw(st.integers(0, 3)) > 0
    try:
        h = segment_hash(role, content) if good_hash else draw(TEXT)
    except (UnicodeEncodeError, ValueError):
        h = "sha256:bad"
    out = {"id": draw(mostly(st.just("s"), TEXT)), "hash": h, "role": role, "content": content}
    if draw(st.integers(0, 9)) == 0:
        out[draw(TEXT)] = draw(JSON)  # an unknown key (segments forbid extras)
    return out


MESSAGE = st.fixed_dictionaries({"role": ROLE, "content": mostly(CONTENT, st.one_of(
    st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"]), "text": TEXT}), max_size=3),
    JSON))}, optional={"name": TEXT})
FIELDS = {
    "model": st.one_of(st.none(), st.sampled_from(["smollm2-135m-instruct", "default"]), TEXT),
    "messages": st.one_of(st.lists(MESSAGE, max_size=3), JSON),
    "segments": st.one_of(st.lists(segment(), max_size=3), JSON),
    "stream": st.one_of(st.booleans(), JSON),
    "stream_options": st.one_of(st.fixed_dictionaries({"include_usage": st.booleans()}), JSON),
    "max_tokens": st.one_of(st.integers(-2, 70), NUMBERS, JSON),
    "max_completion_tokens": st.one_of(st.integers(-2, 70), JSON),
    "temperature": st.one_of(st.floats(0, 2), NUMBERS, JSON),
    "top_p": st.one_of(st.floats(0, 1), NUMBERS),
    "seed": st.one_of(NUMBERS, JSON),
    "stop": st.one_of(TEXT, st.lists(TEXT, max_size=5), JSON),
    "n": st.one_of(st.integers(-1, 3), JSON),
}
PLAUSIBLE = {"max_tokens": st.integers(1, 8), "stream": st.booleans(), "seed": st.integers(-(2**63), 2**64 - 1),
             "temperature": st.floats(0, 2), "stop": st.one_of(VALID_TEXT, st.lists(VALID_TEXT, max_size=4)),
             "segments": st.lists(segment(), max_size=3), "n": st.just(1), "top_p": st.floats(0.05, 1),
             "model": st.sampled_from(["smollm2-135m-instruct", "default"]), "max_completion_tokens": st.integers(1, 8),
             "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()})}
NEAR_VALID = st.fixed_dictionaries({"messages": st.lists(MESSAGE, min_size=1, max_size=2)},
                                   optional={k: mostly(PLAUSIBLE[k], v, 12)
                                             for k, v in FIELDS.items() if k != "messages"})
BODY = st.one_of(JSON, st.fixed_dictionaries({}, optional=FIELDS), mostly(NEAR_VALID, JSON, 10),
                 st.fixed_dictionaries({"segments": st.lists(segment(), max_size=3)}, optional={"x": JSON}))


def _encode(body) -> bytes:
    # ensure_ascii: lone surrogates travel as \\udXXX escapes; NaN/Infinity literals are allowed through
    return json.dumps(body, ensure_ascii=True).encode("ascii")


@pytest.fixture(scope="module")
def baseline(tiny_server, http_a):
    http_a.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    return rss_mb()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(body=BODY, path=st.sampled_from(["/v1/chat/completions", "/v1/chat/completions", "/v1/cache/warm"]),
       depth=st.integers(0, 3))
def test_fuzz_http_api_never_500s(tiny_server, http_a, baseline, body, path, depth):
    for _ in range(depth):  # sometimes wrap in extra nesting
        body = {"messages": [body]} if depth % 2 else [body]
    r = http_a.post(path, content=_encode(body), headers={"content-type": "application/json"})
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        err = r.json()["error"]
        assert err["message"] and err["type"] in ("invalid_request_error", "authentication_error")
    elif r.headers["content-type"].startswith("text/event-stream"):
        assert '"server_error"' not in r.text and r.text.rstrip().endswith("data: [DONE]"), r.text[-500:]


def test_after_the_fuzz_the_server_is_healthy_and_bounded(tiny_server, http_a, baseline):
    assert httpx.get(tiny_server.url + "/health", timeout=10).json()["status"] == "ok"
    r = http_a.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "still there?"}],
                                                  "max_tokens": 2})
    assert r.status_code == 200
    engine = tiny_server.engine
    assert all(n.refs == 0 for n in engine.tree.nodes())
    assert engine.tree.bytes_used <= engine.tree.budget_bytes
    assert engine.token_cache.bytes_used <= engine.token_cache.budget_bytes
    assert rss_mb() - baseline < 300, "RSS grew by more than the caches' budgets allow"
