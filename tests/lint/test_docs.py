"""docs/lint.md is executed: the example project and session run for real and must print exactly
the documented report; every lint code is documented from the registry; the workflow and
pre-commit examples use only inputs and hooks that exist.

Regenerate after an intentional change with ``PROMPTC_REGEN=1 pytest tests/lint/test_docs.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from promptc.core.codes.lint import LINT_CODES

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "lint.md"
BLOCK = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```", re.S | re.M)
GIT_ENV = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@promptc.invalid", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@promptc.invalid", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}


def blocks(text: str) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in BLOCK.finditer(text)]


def codes_section() -> str:
    out = []
    for c in LINT_CODES:
        if not c.code.startswith(("E9", "W9", "I9")):
            continue  # W31x are documented with the compiler diagnostics (docs/language.md)
        out += [f"### {c.code} {c.name}", "", f"*{c.severity}* — {c.summary}.", ""]
        if c.explanation:
            out += [c.explanation, ""]
        if c.example:
            out += [f"Example: `{c.example}`", ""]
        if c.fix:
            out += [f"Instead: {c.fix}.", ""]
    return "\n".join(out)


def run_example(tmp: Path, monkeypatch, capsys) -> str:
    text = DOC.read_text(encoding="utf-8")
    for lang, info, body in blocks(text):
        if lang == "prompt" and info.startswith("file="):
            (tmp / info[5:]).write_text(body, encoding="utf-8")
    (session,) = [body for lang, info, body in blocks(text) if lang == "sh" and info == "example"]
    lines = [ln for ln in session.strip().split("\n")]
    env = {**os.environ, **GIT_ENV}
    for ln in lines[:-1]:
        subprocess.run(["bash", "-ec", ln], cwd=tmp, env=env, check=True, capture_output=True)
    argv = shlex.split(lines[-1])
    assert argv[0] == "promptc"
    from promptc.cli import main

    monkeypatch.chdir(tmp)
    monkeypatch.setattr(sys, "argv", argv)
    try:
        main()
    except SystemExit:
        pass
    return capsys.readouterr().out


def test_the_example_report_is_what_promptc_prints(tmp_path, monkeypatch, capsys):
    out = run_example(tmp_path, monkeypatch, capsys)
    text = DOC.read_text(encoding="utf-8")
    (documented,) = [body for lang, info, body in blocks(text) if lang == "text" and info == "output"]
    if os.environ.get("PROMPTC_REGEN"):
        DOC.write_text(text.replace("```text output\n" + documented, "```text output\n" + out), encoding="utf-8")
        documented = out
    assert out == documented
    # wire order (issue 21): the appended tool lands before the rules on Anthropic, after them on the
    # engine: either way other cached content is re-written, so it is E904, not I906; the Anthropic
    # prefix is below claude-opus-4-8's minimum, so nothing was cached there to lose
    assert "E901" in out and "E904" in out and "I906" not in out
    assert "nothing was cached before on anthropic/claude-opus-4-8" in out


def test_every_lint_code_is_documented_from_the_registry():
    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- codes:start -->\n", "<!-- codes:end -->"
    current = text[text.index(start) + len(start): text.index(end)]
    if os.environ.get("PROMPTC_REGEN"):
        DOC.write_text(text.replace(start + current + end, start + codes_section() + end), encoding="utf-8")
        current = codes_section()
    assert current == codes_section()
    documented = set(re.findall(r"^### ([EWI]9\d\d) ", text, flags=re.M))
    assert documented == {c.code for c in LINT_CODES if c.code[1] == "9"}


def test_workflow_and_pre_commit_examples_use_what_exists():
    from promptc.cli import cli

    text = DOC.read_text(encoding="utf-8")
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    (wf,) = [yaml.safe_load(b) for lang, info, b in blocks(text) if lang == "yaml" and info == "workflow"]
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    uses = [s for s in steps if s.get("uses", "").startswith("OWNER/promptc@")]
    assert len(uses) == 1 and set(uses[0].get("with", {})) <= set(action["inputs"])
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    # every flag the action passes to `promptc lint` exists
    lint_opts = {o for p in cli.commands["lint"].params for o in getattr(p, "opts", [])}
    script = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    assert set(re.findall(r"(--[a-z-]+)", script.split("promptc lint", 1)[1])) <= lint_opts | {"--quiet"}
    (pc,) = [yaml.safe_load(b) for lang, info, b in blocks(text) if lang == "yaml" and info == "pre-commit"]
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert {h["id"] for h in pc["repos"][0]["hooks"]} == hooks == {"promptc-check", "promptc-build-check",
                                                                     "promptc-lint", "promptc-fmt"}
