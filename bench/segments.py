"""Scale benchmark: one plan with thousands of segments must compile in near-linear time.

Run:  python bench/segments.py [--sizes 1000 2000 4000] [--out bench/results/segments.json]

For each size N the generated project has one .prompt file with N small static segments (roles
alternating system/user/assistant, distinct text) and one plan using all of them, targeting the
embedded engine (so the chat-template split of the engine's tokenizer runs) and one raw-join
provider (so every boundary between same-role segments is proven). Timed: ``compile_project`` cold
(empty token cache), in-process, tokenizer loaded beforehand. Reported: seconds in all and
milliseconds per segment; with linear scaling the per-segment time stays flat as N doubles (the
ratio to the smallest size is printed).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from promptc.compiler.build import compile_project  # noqa: E402
from promptc.tokenizers import load_tokenizer  # noqa: E402

ROLES = ("system", "user", "assistant")


def generate(root: Path, n: int) -> None:
    """``root/big.prompt``: N static segments and plan ``big`` over all of them."""
    lines = ['target "engine/smollm2", "anthropic/claude-opus-4-8"', ""]
    for i in range(n):
        lines.append(f'agent s{i} @static role {ROLES[i % 3]} """\nSegment {i}: rule number {i} says keep it short.\n"""')
    lines.append("plan big = " + ", ".join(f"s{i}" for i in range(n)))
    (root / "big.prompt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    load_tokenizer("gguf:smollm2")  # load once, outside the timings
    with tempfile.TemporaryDirectory() as d:  # warm-up: every target's tokenizer and the grammar
        generate(Path(d), 10)
        compile_project([Path(d)], cache_dir=Path(d) / "cache").raise_on_error()
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            generate(root, n)
            t = time.perf_counter()
            result = compile_project([root], cache_dir=root / "cache")
            secs = time.perf_counter() - t
            result.raise_on_error()
            rows.append({"segments": n, "seconds": round(secs, 3), "ms_per_segment": round(1000 * secs / n, 3)})
    base = rows[0]["ms_per_segment"]
    for r in rows:
        r["ratio_to_smallest"] = round(r["ms_per_segment"] / base, 2)
        print(f"{r['segments']:>6} segments  {r['seconds']:>8.2f} s  {r['ms_per_segment']:>7.3f} ms/segment  "
              f"x{r['ratio_to_smallest']}")
    if args.out:
        args.out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                        "rows": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
