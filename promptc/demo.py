"""The main job (``promptc demo``): build a project, start the engine, run its agents interleaved.

Prints a live table per request (agent, prompt tokens, cached, computed, TTFT, answer preview)
and a summary of the prefill work the KV tree saved. The demo compiles in memory: it writes nothing
into the project (no plans, no lock) nor into the current directory; ``--out DIR`` writes the plans
there. Inputs come from ``--inputs FILE`` (a JSON object) and ``-i KEY=VALUE`` flags.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from promptc.core.inputs import sample_value

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


def demo_inputs(plans: dict, inputs_file: Path | None = None, pairs: tuple[str, ...] = ()) -> dict[str, dict]:
    """Inputs per plan from a JSON file (``{"name": value}``) and ``KEY=VALUE`` flags (flags win).

    A name applies to every plan that declares it; a name no plan declares is an InputError (E401).
    """
    from promptc.core.errors import InputError
    from promptc.runtime.inputs import parse_pairs, read_inputs_file

    out: dict[str, dict] = {name: {} for name in plans}
    given: set[str] = set()
    for name, plan in plans.items():
        declared = {s.name for s in plan.inputs if s.stability != "static"}
        if inputs_file is not None:
            values = read_inputs_file(plan, inputs_file)
            out[name].update({k: v for k, v in values.items() if k in declared})
            given |= set(values)
        mine = [p for p in pairs if p.partition("=")[0] in declared]
        out[name].update(parse_pairs(plan, mine))
        given |= {p.partition("=")[0] for p in pairs}
    known = {s.name for plan in plans.values() for s in plan.inputs if s.stability != "static"}
    unknown = sorted(given - known)
    if unknown:
        listing = ", ".join(sorted(known)) or "none"
        raise InputError(", ".join(plans), [(k, f"no plan declares this input (inputs: {listing})") for k in unknown])
    return out


def _session_inputs(plan, given: dict) -> tuple[dict, list[str]]:
    """Session inputs: the given ones, and a sample value for each required one that was not given."""
    values, filled = {}, []
    for spec in plan.inputs:
        if spec.stability != "session":
            continue
        if spec.name in given:
            values[spec.name] = given[spec.name]
        elif not spec.has_default and not spec.type.get("optional"):
            values[spec.name] = sample_value(spec.type, spec.name)
            filled.append(spec.name)
    return values, filled


def _turn_inputs(plan, agent: str, turn: int, given: dict | None = None) -> dict:
    qs = QUESTIONS.get(agent)
    given = given or {}
    values = {}
    for spec in plan.inputs:
        if spec.stability != "turn":
            continue
        if spec.name in given:
            values[spec.name] = given[spec.name]
        elif spec.has_default:
            continue
        elif spec.name == "file" and qs:
            values["file"] = qs[turn % len(qs)][0]
        elif spec.type["type"] == "string":
            values[spec.name] = qs[turn % len(qs)][1] if qs else f"Turn {turn}: what should I do next?"
        elif not spec.type.get("optional"):
            values[spec.name] = sample_value(spec.type, spec.name)
    return values


def _preview(text: str, n: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


def run_demo(project: Path, *, turns: int = 3, max_tokens: int = 48, budget_bytes: int = 1 << 30,
             console: Console | None = None, out: Path | None = None, inputs_file: Path | None = None,
             pairs: tuple[str, ...] = (), engine=None, dtype: str | None = None) -> dict:
    """Run the demo and return its summary numbers.

    The demo writes nothing into ``project`` (no lock, no plans) and nothing into the current directory:
    plans are written only to ``out`` when given. Inputs come from ``inputs_file`` and ``pairs`` (see
    :func:`demo_inputs`); a required session input that is missing gets a sample value, and the demo says
    which. ``engine`` is an already loaded :class:`~promptc.engine.Engine` (default: load the embedded model with
    ``dtype`` weights; None: the serving default, int4 on a CPU — docs/engine.md).
    """
    import promptc
    from promptc.engine.server import EngineServer, ServerThread
    from promptc.runtime.engine_client import EngineClient

    console = console or Console(width=None if Console().is_terminal else 120)
    console.rule(f"[bold]promptc demo[/]: {project}")
    plans = promptc.compile(project).plans
    inputs = demo_inputs(plans, inputs_file, tuple(pairs))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, plan in plans.items():
            (out / f"{name}.plan.json").write_text(plan.to_json(), encoding="utf-8")
    shared = {s.id for s in next(iter(plans.values())).segments
              if s.prefix_hash and all(any(o.prefix_hash == s.prefix_hash for o in p.segments) for p in plans.values())}
    console.print(f"built {len(plans)} plans{f' into {out}' if out is not None else ''}: {', '.join(plans)}; "
                  f"shared prefix: {', '.join(sorted(shared)) or 'none'}")
    sessions = {}
    for name, plan in plans.items():
        values, filled = _session_inputs(plan, inputs.get(name, {}))
        if filled:
            console.print(f"[yellow]{name}[/]: sample values for session input(s) {', '.join(filled)} "
                          "(give real ones with --inputs FILE or -i KEY=VALUE)")
        sessions[name] = plan.bind(**values)
    if engine is None:
        from promptc.engine import Engine

        with loading("loading SmolLM2-135M-Instruct and starting the engine", console):
            engine = Engine(budget_bytes=budget_bytes, dtype=dtype)
    rows = []
    table = Table(title="requests (interleaved agents)")
    for col, just in (("#", "right"), ("agent", "left"), ("prompt", "right"), ("cached", "right"),
                      ("computed", "right"), ("TTFT", "right"), ("answer", "left")):
        table.add_column(col, justify=just)
    # Not a terminal (a CI log, a pipe): no live redraws, which would print nothing until the end; one
    # line per request as it finishes, and the whole table after the last one.
    live = Live(table, console=console, refresh_per_second=8) if console.is_terminal else contextlib.nullcontext()
    with ServerThread(EngineServer(engine)) as server, EngineClient(server.url) as client, live:
        n = 0
        for turn in range(turns):
            for name, plan in plans.items():
                given = {k: v for k, v in inputs.get(name, {}).items()
                         if any(s.name == k and s.stability == "turn" for s in plan.inputs)}
                request = sessions[name].render(**_turn_inputs(plan, name, turn, given))
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
                if not console.is_terminal:
                    console.print(f"request {n}/{turns * len(plans)}: {name}, {result.prompt_tokens} prompt tokens, "
                                  f"{result.cached_tokens} cached, {computed} computed, "
                                  f"TTFT {rows[-1]['ttft_s']:.2f}s", highlight=False)
        stats = client.stats()
    if not console.is_terminal:
        console.print(table)
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


__all__ = ["demo_inputs", "loading", "run_demo", "sample_value"]
