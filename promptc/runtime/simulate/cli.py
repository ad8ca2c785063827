"""``promptc simulate``: thin — reads the flags, calls :func:`promptc.runtime.simulate.simulate`, prints.

The runtime never imports the compiler: the application layer (promptc/cli.py) builds the command
with :func:`simulate_command`, passing its function that compiles source paths.
"""

from __future__ import annotations

from pathlib import Path

import click

from promptc.runtime.plans import CompileSources, PlanChoiceError, open_plans


def simulate_command(compile_sources: CompileSources | None = None) -> click.Command:
    """The ``simulate`` command; ``compile_sources`` compiles .prompt files and project directories."""

    @click.command("simulate")
    @click.argument("paths", nargs=-1, type=click.Path(exists=True))
    @click.option("--target", "-t", "targets", multiple=True, required=True,
                  help="provider/model to simulate (repeatable), e.g. anthropic/claude-sonnet-4-5")
    @click.option("--workload", "workload_file", type=click.Path(dir_okay=False),
                  help="A workload file (.json, .toml, .yaml): plans, session inputs, timed turns")
    @click.option("--from-trace", "trace_file", type=click.Path(dir_okay=False),
                  help="Replay the requests of a cache trace (Client(trace=...)); turn contents are synthesized")
    @click.option("--min-tokens", type=click.IntRange(min=1),
                  help="Lower the minimum cacheable tokens (in the simulator and the client) to this, to see where "
                       "caching goes with small prompts; the output says when a prefix is below the real minimum")
    @click.option("--retention", type=click.Choice(["short", "long"]), default="short", show_default=True,
                  help="Cache retention the client asks for (the naive default keeps retention fields; its "
                       "Anthropic marker has the default 5m TTL); the theoretical best uses its TTL")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    def simulate(paths, targets, workload_file, trace_file, min_tokens, retention, fmt):
        """Replay a workload through the provider simulator and compare caching strategies per target:
        no caching, the provider's naive default, promptc's placement and the theoretical best.

        PATHS are plans: project directories, .prompt files or compiled .plan.json files. Without
        --workload or --from-trace the workload is the built-in working day over those plans."""
        from promptc.core.providers import parse_target
        from promptc.runtime.config import RuntimeConfig
        from promptc.runtime.errors import RuntimeConfigError
        from promptc.runtime.providers import adapter_for
        from promptc.runtime.simulate.replay import simulate as run
        from promptc.runtime.simulate.report import format_text, to_json
        from promptc.runtime.simulate.workload import from_trace, load_workload, working_day

        if workload_file and trace_file:
            raise click.UsageError("use --workload or --from-trace, not both")
        for t in targets:
            try:
                adapter_for(parse_target(t).provider)
            except ValueError as exc:
                raise RuntimeConfigError(f"error[E507]: {exc}") from None
        names: list[str] = []
        plans: dict = {}
        for p in paths:
            try:
                declared, found = open_plans(Path(p), compile_sources)
            except PlanChoiceError as exc:
                raise click.UsageError(str(exc)) from None
            names += [n for n in declared if n not in names]
            plans.update(found)
        if workload_file:
            workload = load_workload(workload_file, plans=plans or None, compile_sources=compile_sources)
        elif trace_file:
            if not plans:
                raise click.UsageError("--from-trace needs the plans the trace was recorded with (PATHS)")
            from promptc.tokenizers import load_tokenizer

            tok = load_tokenizer("o200k_base")
            workload = from_trace(trace_file, plans, lambda text: len(tok.encode(text)) if text else 0)
        else:
            if not plans:
                raise click.UsageError("give the plans to simulate (PATHS), or a --workload file")
            workload = working_day(plans, names)
        results = run(workload, list(targets), min_tokens=min_tokens, retention=retention,
                      config=RuntimeConfig.discover())
        click.echo(to_json(workload, results) if fmt == "json" else format_text(workload, results))

    return simulate


__all__ = ["simulate_command"]
