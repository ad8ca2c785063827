"""Language-server benchmark: time from an edit to its diagnostics, over stdio as an editor sees it.

Run:  python bench/lsp.py [--edits 30] [--tokens 1000000] [--skip-big] [--out bench/results/lsp.json]  (about 5 minutes)

`promptc lsp` runs as a subprocess; a pygls client opens a file, then sends ``didChange`` edits
(each one inserts a word into a static segment's body, so every edit really re-renders, re-tokenizes
and re-hashes that segment) and times each edit until the server's ``publishDiagnostics`` for the
file arrives. Two files per project: a leaf file (one plan) and a shared file every plan of its
group imports (the edit re-checks the file and its dependents). Projects: ``examples/team`` and the
generated ≥1M-token project of ``bench/compile.py`` (120 plans, 8 shared global blocks).

Peer in the same run: the same edits, each followed by a full in-process ``compile_project`` of the
project with a warm build context (the work a non-incremental server would do per edit, without the
protocol's cost).
Goal: ≤ 150 ms median on examples/team.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lsprotocol import types as lsp  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from promptc.compiler.build import compile_project  # noqa: E402
from promptc.compiler.context import BuildContext  # noqa: E402


async def edit_latencies(path: Path, marker: str, edits: int) -> list[float]:
    """Open ``path`` in a fresh server and time ``edits`` edits (each inserts a word after ``marker``)."""
    client = LanguageClient("promptc-bench", "1")
    arrived: dict[str, asyncio.Event] = {}

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        ev = arrived.get(params.uri)
        if ev is not None:
            ev.set()

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    await client.start_io(sys.executable, "-m", "promptc", "lsp", env=env)
    await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(),
                                                       root_uri=from_fs_path(str(path.parent))))
    client.initialized(lsp.InitializedParams())
    uri = from_fs_path(str(path))
    text = path.read_text(encoding="utf-8")
    arrived[uri] = asyncio.Event()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "promptc", 1, text)))
    await asyncio.wait_for(arrived[uri].wait(), 3600)  # the first (cold) check
    times = []
    at = text.index(marker) + len(marker)
    for i in range(edits):
        text = text[:at] + f" edit{i}" + text[at:]
        arrived[uri] = asyncio.Event()
        t = time.perf_counter()
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=i + 2, uri=uri),
            [lsp.TextDocumentContentChangeWholeDocument(text)]))
        await asyncio.wait_for(arrived[uri].wait(), 600)
        times.append(time.perf_counter() - t)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def full_compile(path: Path, marker: str, edits: int) -> list[float]:
    """The peer: the same edits written to disk, each followed by a full in-process compile of the
    project (warm tokenizers and token cache, as the server has them). The file is restored after."""
    root = path.parent
    original = path.read_text(encoding="utf-8")
    ctx = BuildContext()
    compile_project([root], context=ctx)  # warm the tokenizers and the token cache
    text, at, out = original, original.index(marker) + len(marker), []
    try:
        for i in range(edits):
            text = text[:at] + f" edit{i}" + text[at:]
            path.write_text(text, encoding="utf-8")
            t = time.perf_counter()
            result = compile_project([root], context=ctx)
            out.append(time.perf_counter() - t)
            assert not result.errors, [d.render() for d in result.errors]
    finally:
        path.write_text(original, encoding="utf-8")
    return out


def row(project: str, file: str, times: list[float], peer: list[float]) -> dict:
    med, peer_med = statistics.median(times), statistics.median(peer)
    return {"project": project, "file": file, "edits": len(times), "median_ms": round(med * 1000, 1),
            "p90_ms": round(sorted(times)[int(len(times) * 0.9) - 1] * 1000, 1),
            "full_compile_median_ms": round(peer_med * 1000, 1), "ratio_to_full_compile": round(med / peer_med, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=30)
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--big-edits", type=int, default=10)
    ap.add_argument("--skip-big", action="store_true", help="only examples/team")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "lsp.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        team = Path(tmp) / "team"
        shutil.copytree(REPO / "examples" / "team", team, ignore=shutil.ignore_patterns("build", ".promptc"))
        for file, marker in (("backend.prompt", "You own the backend:"), ("shared.prompt", "Team rules:")):
            peer = full_compile(team / file, marker, args.edits)
            times = asyncio.run(edit_latencies(team / file, marker, args.edits))
            rows.append(row("examples/team", file, times, peer))
            print(rows[-1], flush=True)
        if not args.skip_big:
            from bench.compile import generate

            big = Path(tmp) / "big"
            big.mkdir()
            (big / "promptc.lock").write_text("", encoding="utf-8")
            generate(big, args.tokens, 120, 8)
            for file, marker in (("agent_0.prompt", '"""\n'), ("global_0.prompt", '"""\n')):
                peer = full_compile(big / file, marker, 3)
                times = asyncio.run(edit_latencies(big / file, marker, args.big_edits))
                rows.append(row(f"generated {args.tokens // 1000}k tokens", file, times, peer))
                print(rows[-1], flush=True)
    record = {"bench": "lsp", "machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "rows": rows}
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\n| project | edited file | edits | median | p90 | full compile (peer) | ratio |\n|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['project']} | {r['file']} | {r['edits']} | {r['median_ms']} ms | {r['p90_ms']} ms | "
              f"{r['full_compile_median_ms']} ms | {r['ratio_to_full_compile']} |")


if __name__ == "__main__":
    main()
