"""Token counts, --align=fix, breakpoints and the incremental token cache on real projects."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import promptc
from promptc.compiler.align import Aligner, Side
from promptc.compiler.build import compile_project
from promptc.compiler.token_cache import TokenCache

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "diagnostics"

SAMPLE_INPUTS = {
    "backend": ({}, {"file": "api/users.py", "query": "Why 500?"}),
    "frontend": ({}, {"file": "web/App.tsx", "query": "Add a button."}),
    "docs": ({}, {"file": "docs/index.md", "query": "Fix the intro."}),
    "support": ({"customer": {"name": "Ada", "plan": "pro", "open_tickets": 1}},
                {"question": "Refund?", "history": [{"role": "user", "content": "hi"},
                                                    {"role": "assistant", "content": "Hello!"}]}),
    "reviewer": ({}, {"diff": "--- a/x.py\n+++ b/x.py\n@@\n-a = 1\n+a = 2\n"}),
}


@pytest.mark.parametrize("example", ["team", "support", "stdlib_tour"])
def test_engine_per_segment_ids_concatenate_to_the_full_templated_text(engine, example):
    for name, plan in promptc.compile(REPO / "examples" / example).plans.items():
        session_inputs, turn_inputs = SAMPLE_INPUTS[name]
        req = plan.bind(**session_inputs).render(**turn_inputs)
        from promptc.engine import SegmentIn

        segs = [SegmentIn(s.id, s.hash, s.role, s.content) for s in req.segments]
        seg_ids, _, gen = engine.tokenize(segs)
        full = engine.tokenizer.encode(engine.chat.render([{"role": s.role, "content": s.content} for s in req.segments],
                                                         add_generation_prompt=True))
        assert [t for ids in seg_ids for t in ids] + list(gen) == full
        for seg, ids in zip(plan.segments, seg_ids):  # the plan's counts are the engine's counts
            if seg.tokens:
                assert seg.tokens["engine/smollm2"] == len(ids)


def test_show_lists_tokens_under_two_targets(tmp_path):
    out = tmp_path / "out"
    assert subprocess.run([sys.executable, "-m", "promptc.cli", "build", str(REPO / "examples" / "stdlib_tour"),
                           "--out", str(out), "--lock", str(tmp_path / "lock")], capture_output=True).returncode == 0
    plan = json.loads((out / "reviewer.plan.json").read_text())
    first = plan["segments"][0]
    assert set(first["tokens"]) == {"engine/smollm2", "openai/gpt-5.6"}
    assert first["tokens"]["engine/smollm2"] != first["tokens"]["openai/gpt-5.6"]
    r = subprocess.run([sys.executable, "-m", "promptc.cli", "show", str(out / "reviewer.plan.json")],
                       capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0
    assert str(first["tokens"]["engine/smollm2"]) in r.stdout and str(first["tokens"]["openai/gpt-5.6"]) in r.stdout


def test_align_fix_makes_the_fixture_stable(tmp_path, tokenizers):
    src = tmp_path / "p"
    shutil.copytree(FIXTURES / "E601" / "basic", src)
    assert any(d.code == "E601" for d in compile_project([src]).diagnostics)
    fixed = compile_project([src], align="fix")
    assert not fixed.errors and [d.code for d in fixed.diagnostics] == ["W603"]
    plan = fixed.plans["p"]
    left, right = plan.segments[0].content, plan.segments[1].content
    assert left == "Always answer in" and right == " English, even when asked in another language."
    a = Aligner(tokenizers.get("gguf:smollm2"), TokenCache(None))
    assert a.check(Side(left, False), Side(right, False)) is None
    assert a.tok.encode(left + right) == a.tok.encode(left) + a.tok.encode(right)
    assert (src / "main.prompt").read_text() == (FIXTURES / "E601" / "basic" / "main.prompt").read_text()  # sources untouched


def test_breakpoints_respect_provider_minimums_limits_and_overrides(tmp_path):
    big = " ".join(f"Rule {i}: keep the change small and tested." for i in range(180))
    (tmp_path / "main.prompt").write_text(f'''
global rules @static """{big}\n"""
agent role_block @static """You are the reviewer.\n"""
agent prefs @session {{
    input lang: string
    """Answer in {{{{ lang }}}}.\n"""
}}
task turn @turn {{
    input q: string
    """{{{{ q }}}}"""
}}
plan p = rules, role_block, prefs, turn target "anthropic/claude-opus-4-8", "openai/gpt-4.1", "anthropic/claude-opus-4-6"
''')
    plan = promptc.compile(tmp_path)["p"]
    bp = {s.id: s.breakpoint or [] for s in plan.segments}
    assert bp["role_block"].count("anthropic/claude-opus-4-8") == 1  # the whole static prefix
    assert "anthropic/claude-opus-4-8" in bp["rules"]                 # the shared global block
    assert "anthropic/claude-opus-4-8" in bp["prefs"]                 # the session prefix
    assert not any("openai/gpt-4.1" in v for v in bp.values())        # automatic caching: no markers
    assert not any("anthropic/claude-opus-4-6" in v for v in bp["rules"] + bp["role_block"])  # below 4096
    warnings = {d.code for d in compile_project([tmp_path]).diagnostics}
    assert warnings == {"W604"}
    assert plan.segments[1].prefix_tokens["anthropic/claude-opus-4-8"] == sum(
        s.tokens["anthropic/claude-opus-4-8"] for s in plan.segments[:2])
    (tmp_path / "pyproject.toml").write_text('[tool.promptc.cache_limits."anthropic/claude-opus-4-6"]\nmin_tokens = 512\n')
    plan = promptc.compile(tmp_path)["p"]
    assert "anthropic/claude-opus-4-6" in (plan.segments[1].breakpoint or [])


def test_incremental_build_never_retokenizes_unchanged_segments(tmp_path, monkeypatch, tokenizers):
    src = tmp_path / "team"
    shutil.copytree(REPO / "examples" / "team", src, ignore=shutil.ignore_patterns("promptc.lock", ".promptc"))
    calls: list[int] = []
    tok = tokenizers.get("gguf:smollm2")
    original = type(tok).encode_batch

    def counting(self, texts):
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(type(tok), "encode_batch", counting)
    first = compile_project([src])
    assert sum(calls) > 0
    calls.clear()
    second = compile_project([src])
    assert sum(calls) == 0
    assert {n: p.to_json() for n, p in first.plans.items()} == {n: p.to_json() for n, p in second.plans.items()}
    (src / "team_extra.prompt").write_text('import "./shared.prompt"\nagent extra @static """New agent."""\n'
                                           'plan extra = rules, repo_tools, extra\n')
    compile_project([src])
    assert sum(calls) == 1  # only the new agent's segment


def test_a_fix_reaches_every_plan_that_uses_the_segment_under_any_name(tmp_path):
    (tmp_path / "lib.prompt").write_text('global rules @static """Always answer in """\n')
    (tmp_path / "a.prompt").write_text('import "./lib.prompt"\ntarget "raw/smollm2"\n'
                                       'global lang_a @static """English, please."""\nplan a = rules, lang_a\n')
    (tmp_path / "b.prompt").write_text('import "./lib.prompt" as lib\ntarget "raw/smollm2"\n'
                                       'global lang_b @static """<|im_end|>French, please."""\nplan b = lib.rules, lang_b\n')
    result = compile_project([tmp_path], align="fix")
    assert not result.errors, [d.render() for d in result.errors]
    a, b = result.plans["a"].segments[0], result.plans["b"].segments[0]
    assert (a.id, b.id) == ("rules", "lib.rules")
    assert a.content == b.content and a.hash == b.hash  # one segment, one normalized text, one hash
