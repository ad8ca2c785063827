"""Lint benchmark: `promptc lint` of the ≥1M-token benchmark project against its own previous commit
with one edit, against a plain `promptc build` of the same project in the same run.

Run:  python bench/lint.py [--tokens 1000000] [--plans 120] [--out bench/results/lint.json]

The project is bench/compile.py's (G global blocks shared by many plans, one agent block per plan).
It is committed to a git repository; a second commit rewords one sentence of one global block, so
the lint finds one E901 across every plan sharing that block. Timed, each as a fresh process (what
a user or CI waits for: interpreter, imports, work), median of --repeats:

* build (cold): `promptc build` with no token cache (a fresh CI checkout);
* lint (cold): `promptc lint --against HEAD~1` with no token cache: builds the new tree and the
  baseline (from `git archive`), which shares the token cache, so only changed segments are
  tokenized twice;
* build (warm) and lint (warm): the same with the token cache of a previous build (the no-op
  shortcut's manifest removed, so the build really compiles);
* no-change lint: `promptc lint --against HEAD` on a clean tree.

Goals (issues 10 and 21): lint ≤ 1.5× build, and a no-change lint ≤ 1 s (median of 5). Lint now
prices every change on the wire (tool definitions counted as each provider sends them, one
tokenizer load per run), which this benchmark includes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from compile import generate  # noqa: E402  (bench/compile.py: the 1M-token project)

GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@promptc.invalid", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@promptc.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sh(cmd: list[str], cwd: Path, env: dict, ok=(0,), key: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``cmd``; wall time, and (under ``key``) its CPU time, which a loaded machine disturbs less."""
    c, t = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if key:
        CPU.setdefault(key, []).append(_children_cpu() - c)
    assert proc.returncode in ok, f"{cmd}: {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return dt, proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--plans", type=int, default=120)
    ap.add_argument("--globals", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)  # issue 21: the no-change lint is a median of 5
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "lint.json"))
    args = ap.parse_args()

    env = {**os.environ, **GIT_ENV, "PYTHONPATH": str(REPO)}
    promptc = [sys.executable, "-m", "promptc.cli"]
    work = Path(tempfile.mkdtemp(prefix="promptc-bench-lint-"))
    try:
        root = work / "project"
        root.mkdir()
        generate(root, args.tokens, args.plans, args.globals)
        (root / ".gitignore").write_text(".promptc/\n")
        for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "base"]):
            sh(cmd, root, env)
        g0 = root / "global_0.prompt"
        text = g0.read_text()
        first_sentence_end = text.index(".") + 1
        g0.write_text(text[:first_sentence_end] + " Reviewed weekly." + text[first_sentence_end:])
        for cmd in (["git", "commit", "-qam", "one edit"],):
            sh(cmd, root, env)

        cache = root / ".promptc"
        manifest = cache / "cache" / "manifest.json"
        build_cmd = promptc + ["build", ".", "--out", str(work / "plans"), "--lock", str(work / "promptc.lock")]
        lint_cmd = promptc + ["lint", ".", "--against", "HEAD~1", "--format", "json"]
        times: dict[str, list[float]] = {k: [] for k in ("build_cold", "lint_cold", "build_warm", "lint_warm",
                                                          "lint_nochange")}
        report = None
        for _ in range(args.repeats):
            shutil.rmtree(cache, ignore_errors=True)
            times["build_cold"].append(sh(build_cmd, root, env, key="build_cold")[0])
            manifest.unlink(missing_ok=True)
            times["build_warm"].append(sh(build_cmd, root, env, key="build_warm")[0])
            shutil.rmtree(cache, ignore_errors=True)
            dt, proc = sh(lint_cmd, root, env, ok=(1,), key="lint_cold")
            times["lint_cold"].append(dt)
            report = json.loads(proc.stdout)
            times["lint_warm"].append(sh(lint_cmd, root, env, ok=(1,), key="lint_warm")[0])
            times["lint_nochange"].append(sh(promptc + ["lint", ".", "--against", "HEAD"], root, env,
                                             key="lint_nochange")[0])
        med = {k: statistics.median(v) for k, v in times.items()}
        cpu = {k: statistics.median(v) for k, v in CPU.items()}
        findings = [(f["code"], len(f["plans"])) for f in report["findings"]]
        tokens = sum(p["tokens"].get("engine/smollm2", 0) for p in report["summary"]["plans"])
        result = {
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "cpus": os.cpu_count(), "load_average_after": os.getloadavg()},
            "project": {"plans": args.plans, "globals": args.globals, "tokens_goal": args.tokens},
            "findings": findings, "tokens_invalidated": tokens,
            "median_s": med, "median_cpu_s": cpu, "repeats": args.repeats,
            "lint_vs_build_cold": med["lint_cold"] / med["build_cold"],
            "lint_vs_build_warm": med["lint_warm"] / med["build_warm"],
            "goals": {"lint_vs_build": "<= 1.5", "nochange_lint_s": "<= 1"},
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"project: {args.plans} plans, {args.globals} shared global blocks, ~{args.tokens:,} static tokens; "
              f"one edit → {findings} ({tokens:,} tokens invalidated on engine/smollm2)\n")
        print(f"| measurement (fresh process, median of {args.repeats}) | wall | CPU | wall vs build |")
        print("|---|---:|---:|---:|")
        rows = [("`promptc build` (cold token cache)", "build_cold", "build_cold"),
                ("`promptc lint --against HEAD~1` (cold token cache)", "lint_cold", "build_cold"),
                ("`promptc build` (warm token cache, no no-op shortcut)", "build_warm", "build_warm"),
                ("`promptc lint --against HEAD~1` (warm token cache)", "lint_warm", "build_warm"),
                ("`promptc lint --against HEAD` (no change)", "lint_nochange", None)]
        for label, k, ref in rows:
            ratio = f"{med[k] / med[ref]:.2f}" if ref else ""
            print(f"| {label} | {med[k]:.2f} s | {cpu[k]:.2f} s | {ratio} |")
        print(f"\nwrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
