"""The main job (``promptc demo``): build a project, start the engine, run its agents interleaved.

Prints a live table per request (agent, prompt tokens, cached, computed, TTFT, answer preview)
and a summary of the prefill work the KV tree saved.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

QUESTIONS = {
    "backend": [("api/users.py", "Why could GET /users return 500 when the table is empty?"),
                ("api/orders.py", "How should I add an index for the monthly orders report?"),
                ("migrations/0042_prices.py", "Is storing prices as floats here a problem?"),
                ("api/deps.py", "Where should the database session be created?")],
    "frontend": [("web/src/App.tsx", "How do I show a loading state while orders load?"),
                 ("web/src/ui/Button.tsx", "Make this button accessible to keyboard users."),
                 ("web/src/api/client.ts", "How do I regenerate the API types?"),
                 ("web/src/pages/Cart.tsx", "Why does the cart re-render on every keystroke?")],
    "docs": [("docs/index.md", "Write a one-paragraph summary for the home page."),
             ("docs/api.md", "How should we document the /orders endpoint?"),
             ("docs/setup.md", "What belongs in the local setup guide?"),
             ("docs/faq.md", "Add an FAQ entry about refunds.")],
}


@contextlib.contextmanager
def loading(message: str, console: Console | None = None):
    """A spinner with elapsed time while something slow (the model) loads."""
    console = console or Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(), console=console,
                  transient=False) as progress:
        task = progress.add_task(message, total=None)
        yield
        progress.update(task, description=f"{message}: done")


def _turn_inputs(plan, agent: str, turn: int) -> dict:
    qs = QUESTIONS.get(agent)
    values = {}
    for spec in plan.inputs:
        if spec.stability != "turn" or spec.has_default:
            continue
        if spec.name == "file" and qs:
            values["file"] = qs[turn % len(qs)][0]
        elif spec.type["type"] == "string":
            values[spec.name] = qs[turn % len(qs)][1] if qs else f"Turn {turn}: what should I do next?"
        elif spec.type["type"] == "list":
            values[spec.name] = []
    return values


def _preview(text: str, n: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


def run_demo(project: Path, *, turns: int = 3, max_tokens: int = 48, budget_bytes: int = 1 << 30,
             console: Console | None = None, dtype: str = "float32") -> dict:
    """Run the demo and return its summary numbers."""
    import promptc
    from promptc.compiler.emit import write_outputs
    from promptc.engine import Engine
    from promptc.engine.server import EngineServer, ServerThread
    from promptc.runtime.engine_client import EngineClient

    console = console or Console(width=None if Console().is_terminal else 120)
    console.rule(f"[bold]promptc demo[/]: {project}")
    build = promptc.compile(project)
    out = Path("build") / "plans" / project.name
    write_outputs(build, out, project / "promptc.lock")
    plans = build.plans
    shared = {s.id for s in next(iter(plans.values())).segments
              if s.prefix_hash and all(any(o.prefix_hash == s.prefix_hash for o in p.segments) for p in plans.values())}
    console.print(f"built {len(plans)} plans into {out}: {', '.join(plans)}; shared prefix: "
                  f"{', '.join(sorted(shared)) or 'none'}")
    with loading("loading SmolLM2-135M-Instruct and starting the engine", console):
        engine = Engine(budget_bytes=budget_bytes, dtype=dtype)
    rows = []
    table = Table(title="requests (interleaved agents)")
    for col, just in (("#", "right"), ("agent", "left"), ("prompt", "right"), ("cached", "right"),
                      ("computed", "right"), ("TTFT", "right"), ("answer", "left")):
        table.add_column(col, justify=just)
    with ServerThread(EngineServer(engine)) as server, EngineClient(server.url) as client, \
            Live(table, console=console, refresh_per_second=8):
        sessions = {name: plan.bind() for name, plan in plans.items()}
        n = 0
        for turn in range(turns):
            for name, plan in plans.items():
                request = sessions[name].render(**_turn_inputs(plan, name, turn))
                result = None
                for item in client.stream(request, max_tokens=max_tokens):
                    if not isinstance(item, str):
                        result = item
                n += 1
                computed = result.prompt_tokens - result.cached_tokens
                rows.append({"agent": name, "prompt": result.prompt_tokens, "cached": result.cached_tokens,
                             "computed": computed, "ttft_s": result.ttft_s or result.total_s, "answer": result.text})
                table.add_row(str(n), name, str(result.prompt_tokens), f"[green]{result.cached_tokens}[/]",
                              str(computed), f"{rows[-1]['ttft_s']:.2f}s", _preview(result.text))
        stats = client.stats()
    prompt = sum(r["prompt"] for r in rows)
    computed = sum(r["computed"] for r in rows)
    summary = {"requests": len(rows), "prompt_tokens": prompt, "computed_with_tree": computed,
               "computed_without_tree": prompt, "saved_fraction": 1 - computed / prompt if prompt else 0.0,
               "ttft_total_s": sum(r["ttft_s"] for r in rows), "tree_bytes": stats["bytes"],
               "tree_nodes": stats["nodes"], "rows": rows}
    console.print(f"\n[bold]summary[/]: {len(rows)} requests, {prompt} prompt tokens; prefill computed "
                  f"[bold green]{computed}[/] with the KV tree vs {prompt} without it "
                  f"({summary['saved_fraction']:.0%} saved); {stats['nodes']} cached segments, "
                  f"{stats['bytes'] / 2**20:.1f} MiB")
    return summary


__all__ = ["run_demo", "loading"]
