"""CLI commands of the provider runtime: ``promptc sim serve`` and ``promptc trace stats`` (thin)."""

from __future__ import annotations

import json
import time

import click


@click.group()
def sim() -> None:
    """The provider simulator: Anthropic/OpenAI wire formats and cache semantics on loopback."""


@sim.command("serve")
@click.option("--provider", type=click.Choice(["anthropic", "openai", "gemini", "all"]), default="all", show_default=True,
              help="Which provider's instructions to print (the server speaks all of them)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--real-clock", is_flag=True, help="Expire cache entries in real time (default: a fake clock "
              "moved with POST /_sim/advance)")
@click.option("--min-tokens", type=click.IntRange(1), default=None,
              help="Lower every provider's minimum cacheable tokens to N (default: each model's, from "
              "`promptc providers`), so small prompts show cache hits")
@click.option("--anthropic-min-tokens", "anthropic_min", multiple=True, metavar="MODEL=N",
              help="Lower one Claude model's minimum (Anthropic, Bedrock, OpenRouter); repeatable")
def sim_serve(provider, host, port, real_clock, min_tokens, anthropic_min):
    """Serve the simulator until interrupted; point an SDK or promptc at it."""
    import uvicorn

    from promptc.runtime.sim import SimApp

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise click.UsageError("the simulator serves loopback only (--host 127.0.0.1)")
    per_model = {}
    for item in anthropic_min:
        model, sep, n = item.partition("=")
        if not sep or not model or not n.isdigit() or int(n) < 1:
            raise click.BadParameter(f"`{item}` is not MODEL=N (N ≥ 1)", param_hint="--anthropic-min-tokens")
        per_model[model] = int(n)
    app = SimApp(clock=time.time if real_clock else None, anthropic_min_tokens=per_model or None,
                 min_tokens=min_tokens)
    url = f"http://{host}:{port}"
    if provider in ("anthropic", "all"):
        click.echo(f"export ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY=sim", err=True)
    if provider in ("openai", "all"):
        click.echo(f"export OPENAI_BASE_URL={url}/v1 OPENAI_API_KEY=sim", err=True)
    if provider in ("gemini", "all"):
        click.echo(f"export GOOGLE_GEMINI_BASE_URL={url} GEMINI_API_KEY=sim", err=True)
    uvicorn.run(app.app, host=host, port=port, log_level="warning")


@click.group()
def trace() -> None:
    """Read JSONL cache traces written with Client(..., trace=PATH)."""


@trace.command("stats")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON")
def trace_stats(path, as_json):
    """Hit rate, tokens and cost per plan, and per segment how often it invalidated the cache."""
    from promptc.runtime.trace import format_stats, read_trace, stats

    s = stats(read_trace(path))
    click.echo(json.dumps(s, indent=2, sort_keys=True) if as_json else format_stats(s))
