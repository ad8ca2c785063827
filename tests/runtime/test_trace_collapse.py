"""The trace's collapse monitor (W510): a plan whose cache read falls below a fraction of its
established prefix is flagged in the trace, warned about, and counted by ``promptc trace stats``.

The reads are the simulator's (over loopback HTTP): the established prefix and the collapsed read in
the record are compared with what the simulator's usage block said, not with promptc's estimates."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from promptc.cli import cli
from promptc.core.errors import PromptcError
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import CacheCollapseWarning
from promptc.runtime.trace import COLLAPSE_FRACTION, Tracer, read_trace, stats

TARGET = "anthropic/claude-sonnet-4-5"


def run(client, session, **turn):
    return client.complete(session.render(**turn), max_tokens=16)


@pytest.fixture()
def collapsed(team, sim, low_min_config, tmp_path):
    """backend: cold, hit, then the 5m entries expire → the third read collapses to 0."""
    path = tmp_path / "trace.jsonl"
    tracer = Tracer(path, clock=sim.sim.state.clock)
    c = Client(TARGET, base_url=sim.url, api_key="k", retention="short", config=low_min_config, trace=tracer)
    s = team["backend"].bind()
    replies = [run(c, s, file="a", query="1"), run(c, s, file="a", query="2")]
    sim.advance(400)
    with pytest.warns(CacheCollapseWarning, match=r"W510.*backend.*established prefix"):
        replies.append(run(c, s, file="a", query="3"))
    return path, replies


def test_a_collapsed_read_is_flagged_next_to_its_invalidation(collapsed):
    path, replies = collapsed
    recs = read_trace(path)
    hit = replies[1].usage.cache_read  # the simulator's own usage block
    assert hit and hit > 0
    assert [r["collapse"] for r in recs[:2]] == [None, None]
    assert recs[2]["collapse"] == {"code": "W510", "established": hit, "read": replies[2].usage.cache_read,
                                   "fraction": COLLAPSE_FRACTION}
    assert replies[2].usage.cache_read == 0
    assert recs[2]["invalidation"]["reason"] == "ttl_expired"  # promptc's reason sits next to it


def test_trace_stats_counts_collapses_in_json_and_text(collapsed):
    path, replies = collapsed
    name = f"backend @ {TARGET}"
    s = stats(read_trace(path))
    assert s["plans"][name]["collapses"] == 1
    assert s["plans"][name]["established_prefix"] == replies[1].usage.cache_read
    r = CliRunner().invoke(cli, ["trace", "stats", str(path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["plans"][name]["collapses"] == 1
    r = CliRunner().invoke(cli, ["trace", "stats", str(path)])
    header, row = r.stdout.splitlines()[:2]
    assert header.split()[-1] == "collapse" and row.startswith(name) and row.split()[-1] == "1"


def test_a_steady_plan_never_collapses(team, sim, low_min_config, tmp_path):
    path = tmp_path / "t.jsonl"
    c = Client(TARGET, base_url=sim.url, api_key="k", config=low_min_config, trace=path)
    s = team["backend"].bind()
    for q in "1234":
        run(c, s, file="a", query=q)
    assert stats(read_trace(path))["plans"][f"backend @ {TARGET}"]["collapses"] == 0


def test_the_fraction_is_configurable_per_project_and_per_plan(tmp_path):
    cfg = RuntimeConfig.from_dict({"cacheCollapseFraction": 0.25,
                                   "plans": {"scout": {"cacheCollapseFraction": 0.9}}})
    with Client(TARGET, api_key="k", config=cfg, trace=tmp_path / "t.jsonl") as c:
        assert c.tracer.collapse_fraction == 0.25 and c.tracer.plan_collapse_fractions == {"scout": 0.9}
    with Client(TARGET, api_key="k", config=RuntimeConfig(), trace=tmp_path / "t.jsonl") as c:
        assert c.tracer.collapse_fraction == COLLAPSE_FRACTION == 0.5


def test_a_per_plan_fraction_decides(tmp_path):
    """Same reads, two fractions: 0.9 flags a read at 80% of the established prefix, 0.5 does not."""
    from types import SimpleNamespace as NS

    tracer = Tracer(tmp_path / "t.jsonl", plan_collapse_fractions={"strict": 0.9})
    for plan in ("strict", "lenient"):
        for read in (1000, 800):
            req = NS(plan=plan, segments=[])
            reply = NS(model="m", usage=NS(cache_read=read, to_json=lambda r=read: {"cache_read": r}),
                       cost_detail=None)
            with pytest.warns(CacheCollapseWarning) if (plan, read) == ("strict", 800) else _none():
                tracer.record(request=req, target=TARGET, call=NS(marks=[], cache_key=None), reply=reply,
                              error=None, latency_s=0.0, attempts=1)
    flagged = [(r["plan"], r["usage"]["cache_read"]) for r in read_trace(tmp_path / "t.jsonl") if r["collapse"]]
    assert flagged == [("strict", 800)]


class _none:
    """No CacheCollapseWarning may be raised inside (warnings are errors here)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", CacheCollapseWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


@pytest.mark.parametrize("value", [0, 1.5, "half", True])
def test_a_bad_fraction_is_e528(value):
    with pytest.raises(PromptcError, match=r"E528.*cacheCollapseFraction"):
        RuntimeConfig.from_dict({"cacheCollapseFraction": value})
    with pytest.raises(PromptcError, match=r"E528.*plans\.scout\.cacheCollapseFraction"):
        RuntimeConfig.from_dict({"plans": {"scout": {"cacheCollapseFraction": value}}})
