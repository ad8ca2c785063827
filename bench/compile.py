"""Compiler benchmark: cold build and no-op rebuild of a generated ≥1M-token project, against the
raw ``tokenizers`` ``encode_batch`` throughput on the same text (the physical limit of tokenizing).

Run:  python bench/compile.py [--tokens 1000000] [--plans 120] [--out bench/results/compile.json]

The project: G global blocks shared by many plans, one agent block per plan, a turn template per
plan; unique static text ≥ --tokens tokens. Timed:

* cold build: ``compile_project`` + writing plans and lock, with an empty token cache (in-process,
  tokenizer already loaded, as the raw limit has it loaded too);
* no-op rebuild: ``promptc build`` again as a fresh process (what a user waits for: interpreter,
  imports, and the manifest check that finds no input changed);
* warm full rebuild: ``compile_project`` + write again in-process with every segment's tokens cached
  (the work a build does when something changed but the tokens did not, without the shortcut);
* raw limit: ``Tokenizer.encode_batch`` over the distinct templated pieces the build tokenizes.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from promptc.compiler.build import compile_project  # noqa: E402
from promptc.compiler.emit import write_outputs  # noqa: E402
from promptc.compiler.context import BuildContext  # noqa: E402
from promptc.tokenizers import TokenizerRegistry  # noqa: E402
from promptc.tokenizers.chat import ChatTemplate  # noqa: E402

VOCAB = ("review test change small module function request cache segment token prefix boundary stable agent "
         "shared global rules tools memory history turn session static plan compile hash lock build check "
         "error warning hint location caret excerpt python typescript database schema migration index query").split()


def paragraph(rng: random.Random, words: int) -> str:
    out = []
    for i in range(words):
        w = rng.choice(VOCAB)
        out.append(w.capitalize() if i % 17 == 0 else w)
        if i % 17 == 16:
            out[-1] += "."
    return " ".join(out) + ".\n"


def generate(root: Path, target_tokens: int, plans: int, globals_: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    # ~1.1 tokens per word for this vocabulary; split the budget 30% global, 70% agent blocks
    words_global = int(target_tokens * 0.30 / 1.05 / globals_)
    words_agent = int(target_tokens * 0.70 / 1.05 / plans)
    for g in range(globals_):
        body = "".join(paragraph(rng, 120) for _ in range(max(1, words_global // 120)))
        (root / f"global_{g}.prompt").write_text(f'global rules_{g} @static role system """\n{body}"""\n')
    (root / "turn.prompt").write_text('task turn @turn role user {\n    input query: string\n    """{{ query }}"""\n}\n')
    for p in range(plans):
        g = p % globals_
        body = "".join(paragraph(rng, 120) for _ in range(max(1, words_agent // 120)))
        (root / f"agent_{p}.prompt").write_text(
            f'import "./global_{g}.prompt"\nimport "./turn.prompt"\n'
            f'agent role_{p} @static role system """\n{body}"""\n'
            f'plan agent_{p} = rules_{g}, role_{p}, turn\n')


def build_once(root: Path, out: Path, tokenizers: TokenizerRegistry) -> float:
    """One in-process build; tokenizers are already loaded, the token cache is read from disk."""
    t = time.perf_counter()
    result = compile_project([root], context=BuildContext(tokenizers))
    result.raise_on_error()
    write_outputs(result, out, root / "promptc.lock")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--plans", type=int, default=120)
    ap.add_argument("--globals", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "compile.json"))
    args = ap.parse_args()

    tokenizers = TokenizerRegistry()
    tok = tokenizers.get("gguf:smollm2")
    work = Path(tempfile.mkdtemp(prefix="promptc-bench-"))
    try:
        root = work / "project"
        root.mkdir()
        generate(root, args.tokens, args.plans, args.globals)

        # The text the build tokenizes: the distinct chat-templated pieces of the static segments.
        first = compile_project([root], annotate_tokens=False).raise_on_error()
        chat = ChatTemplate(tok.chat_template)
        pieces = {}
        for plan in first.plans.values():
            static = [s for s in plan.segments if s.content is not None]
            for p in chat.split([{"role": s.role, "content": s.content} for s in static],
                                add_generation_prompt=False).pieces:
                pieces[p] = None
        texts = list(pieces)
        raw_times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            encs = tok.tok.encode_batch(texts, add_special_tokens=False)
            raw_times.append(time.perf_counter() - t)
        n_tokens = sum(len(e.ids) for e in encs)
        raw_s = statistics.median(raw_times)

        cold_times, noop_times = [], []
        for _ in range(args.repeats):
            shutil.rmtree(root / ".promptc", ignore_errors=True)
            (root / "promptc.lock").unlink(missing_ok=True)
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            cold_times.append(build_once(root, out, tokenizers))
            noop_times.append(build_once(root, out, tokenizers))
        cold_s, noop_s = statistics.median(cold_times), statistics.median(noop_times)
        cli_times = []
        subprocess.run([sys.executable, "-m", "promptc.cli", "build", str(root), "--out", str(work / "out")],
                       capture_output=True, check=True)  # records the manifest
        for _ in range(args.repeats):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "promptc.cli", "build", str(root), "--out", str(work / "out")],
                               capture_output=True, text=True)
            cli_times.append(time.perf_counter() - t)
            assert r.returncode == 0, r.stderr
        cli_s = statistics.median(cli_times)
        result = {
            "machine": {"platform": platform.platform(), "python": platform.python_version()},
            "project": {"plans": len(first.plans), "files": len(list(root.glob("*.prompt"))),
                        "distinct_static_tokens": n_tokens, "distinct_pieces": len(texts)},
            "raw_encode_batch_s": raw_s, "raw_tokens_per_s": n_tokens / raw_s,
            "cold_build_s": cold_s, "cold_tokens_per_s": n_tokens / cold_s,
            "cold_vs_raw_throughput": (n_tokens / cold_s) / (n_tokens / raw_s),
            "warm_full_rebuild_in_process_s": noop_s, "noop_rebuild_cli_s": cli_s,
            "targets": {"cold_vs_raw_throughput": ">= 0.5", "noop_rebuild_s": "< 1"},
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"project: {result['project']['plans']} plans, {n_tokens:,} distinct static tokens "
              f"({len(texts)} distinct segments)\n")
        print("| measurement | time (median of %d) | tokens/s | vs raw |" % args.repeats)
        print("|---|---:|---:|---:|")
        print(f"| raw tokenizers encode_batch (limit) | {raw_s:.3f} s | {n_tokens / raw_s:,.0f} | 1.00 |")
        print(f"| cold build (compile + write, empty cache) | {cold_s:.3f} s | {n_tokens / cold_s:,.0f} | "
              f"{result['cold_vs_raw_throughput']:.2f} |")
        print(f"| no-op rebuild: `promptc build` (fresh process, nothing changed) | {cli_s:.3f} s | | |")
        print(f"| full rebuild with every token cached (in process, no shortcut) | {noop_s:.3f} s | | |")
        print(f"\nwrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
