"""The ``promptc`` command line: thin wrappers over the library. Exit codes: 0 ok, 1 findings, 2 usage/internal."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from promptc.core.version import __version__
from promptc.core.errors import PromptcError


def _displayed(diags, root) -> list:
    """Diagnostics with their paths relative to the current directory (the compiler reports them
    relative to the project root, which plans and locks record)."""
    if root is None:
        return list(diags)
    from promptc.core.errors import relative_to_cwd

    display = relative_to_cwd(root)
    return [d.relocated(display) for d in diags]


def _echo_diagnostics(diags, fmt: str, root=None) -> None:
    from promptc.compiler.project import diagnostics_summary

    diags = _displayed(diags, root)
    if fmt == "json":
        click.echo(json.dumps([d.to_json() for d in diags], indent=2, ensure_ascii=False))
        return
    if diags:
        click.echo(diagnostics_summary(diags), err=True)


class _LazyGroup(click.Group):
    """A group whose provider-runtime commands (``_LAZY``) load on first use: importing them pulls in the
    plan models, the provider clients and the simulator (about 0.4 s measured), which ``promptc --help``
    and a no-op ``promptc build`` do not need. Their help rows come from ``_LAZY`` without importing them
    (tests/test_light_install.py checks the rows against the loaded commands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in _LAZY:
            self.add_command(_LAZY[name][0](), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        unloaded = {n: click.Command(n, help=_LAZY[n][1]) for n in _LAZY if n not in self.commands}
        commands = [(n, unloaded.get(n) or super(_LazyGroup, self).get_command(ctx, n)) for n in self.list_commands(ctx)]
        commands = [(n, c) for n, c in commands if c is not None and not c.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(n) for n, _ in commands)
            with formatter.section("Commands"):
                formatter.write_dl([(n, c.get_short_help_str(limit)) for n, c in commands])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promptc")
def cli() -> None:
    """promptc: compile .prompt files into segment-hashed, cache-friendly request plans."""


_ALLOW_ROOT_HELP = ("Also let sources read files under DIR (repeatable); by default only the project root and the "
                    "standard library are readable (docs/security.md).")


def _paths(paths) -> list:
    """The given paths; with none, the project around the current directory (its root is the nearest
    directory with promptc.lock or a pyproject.toml declaring [tool.promptc]), else the current one."""
    if paths:
        return list(paths)
    from promptc.compiler.sources import find_project_root

    root = find_project_root(Path.cwd())
    return [str(root) if root is not None else "."]


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--out", "out", type=click.Path(file_okay=False), help="Directory for <plan>.plan.json [default: <root>/.promptc/plans]")
@click.option("--lock", "lock", type=click.Path(dir_okay=False), help="Lockfile path [default: <root>/promptc.lock]")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the lock or plans are stale (CI mode).")
@click.option("--align", type=click.Choice(["check", "fix"]), default=None,
              help="Token boundaries: report unstable ones, or apply the documented normalization and report it "
                   "[default: [tool.promptc] align, else check].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--allow-root", "allow_roots", multiple=True, type=click.Path(file_okay=False), metavar="DIR",
              help=_ALLOW_ROOT_HELP)
@click.option("--fail-on", "fail_on", type=click.Choice(["stale", "error"]), default="stale", show_default=True,
              help="With --check: exit 1 on any stale output, or only on a cache-breaking change (error).")
def build(paths, out, lock, check, align, fmt, allow_roots, fail_on):
    """Compile every plan under PATHS and write plans plus promptc.lock."""
    from promptc.compiler.project import build_project

    outcome = build_project(_paths(paths), out=out, lock=lock, check=check, align=align,
                            allow_roots=allow_roots)
    if check and outcome.result is not None and not outcome.result.errors:
        if fmt != "json" and outcome.diagnostics_text:
            click.echo(outcome.diagnostics_text, err=True)
        sys.exit(_build_check(outcome.result, outcome.lock_path, fmt, fail_on, outcome.changes))
    if fmt == "json":
        click.echo(json.dumps(outcome.diagnostics_json, indent=2, ensure_ascii=False))
    elif outcome.diagnostics_text:
        click.echo(outcome.diagnostics_text, err=True)
    if outcome.up_to_date:
        click.echo(outcome.summary + " (up to date: no input changed)")
    elif not outcome.result.errors:
        click.echo(f"{outcome.summary} ({len(outcome.written)} file(s) changed)")
    sys.exit(outcome.exit_code)


def _build_check(result, lock_path: Path, fmt: str, fail_on: str, stale: list) -> int:
    """``build --check``: the lint engine's coded findings against the lockfile, plus ``stale`` files
    (what :func:`~promptc.compiler.project.build_project` found out of date).

    Exit 1 when a cache-breaking change is found; a stale-but-harmless change (a turn template, a
    plan file) exits 1 with ``--fail-on stale`` (the default) and 0 with ``--fail-on error``."""
    from promptc.lint import check_against_lock
    from promptc.lint.formats import render

    report = check_against_lock(result, lock_path)
    breaking = report.failing("error")
    if fmt == "json":
        click.echo(json.dumps({"diagnostics": [d.to_json() for d in result.diagnostics],
                               "findings": json.loads(report.model_dump_json())["findings"],
                               "summary": report.summary.model_dump(mode="json"),
                               "stale": [{"plan": c.plan, "message": c.message} for c in stale],
                               "breaking": bool(breaking)}, indent=2, ensure_ascii=False))
    else:
        if report.findings:
            click.echo(render(report, "text"))
        covered = {p for f in report.findings for p in f.plans}
        for c in stale:  # out-of-date outputs the findings above do not already explain
            if c.plan not in covered:
                click.echo(f"• {c.plan}: {c.message}")
        if stale or report.findings:
            click.echo(f"stale: {len(breaking)} cache-breaking finding(s); run `promptc build` and commit", err=True)
        else:
            click.echo(f"up to date: {len(result.plans)} plan(s)")
    if breaking:
        return 1
    return 1 if (stale or report.findings) and fail_on == "stale" else 0


@cli.command("lint")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--against", help="Git ref, promptc.lock file or project directory [default: merge-base with the "
                                "default branch]")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "sarif", "markdown"]), default="text",
              show_default=True)
@click.option("--fail-on", "fail_on", type=click.Choice(["error", "warning", "never"]),
              help="Exit 1 on unsuppressed findings at this level [default: [tool.promptc.lint] fail_on, else error]")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to this file, not stdout")
@click.option("--markdown-summary", type=click.Path(dir_okay=False),
              help="Also append the markdown report to this file (e.g. $GITHUB_STEP_SUMMARY)")
def lint_cmd(paths, against, fmt, fail_on, output, markdown_summary):
    """Review every prompt change against a baseline for what it does to the cache, and what it costs."""
    from promptc.compiler.sources import find_sources
    from promptc.lint.config import load_lint_config
    from promptc.lint.formats import render
    from promptc.lint.gitref import unchanged_since
    from promptc.lint.model import LintReport

    paths = list(paths) or ["."]
    root = find_sources([Path(p) for p in paths])[0]
    from promptc.lint.gitref import BaselineError

    try:
        label = unchanged_since(root, against)  # nothing changed: answer without building anything
        if label is not None:
            report = LintReport.empty(label, "git", __version__)
        else:
            from promptc.lint.run import lint

            report = lint(paths, against)
    except BaselineError as exc:
        if fmt != "json":
            raise
        from promptc.lint.run import error_json

        click.echo(error_json(exc))  # E920/E921/E922 as one JSON document (exit 2)
        sys.exit(2)
    fail_on = fail_on or load_lint_config(root).fail_on or "error"
    if fail_on not in ("error", "warning", "never"):
        raise click.UsageError(f"[tool.promptc.lint] fail_on must be error, warning or never, not {fail_on!r}")
    text = render(report, fmt)
    from promptc.core import safewrite  # no write follows a committed symlink out of the project

    if output:
        safewrite.write_text(Path(output), text + "\n", root)
    else:
        click.echo(text)
    if markdown_summary:
        safewrite.append_text(Path(markdown_summary), render(report, "markdown") + "\n", root)
    sys.exit(1 if report.failing(fail_on) else 0)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--align", type=click.Choice(["check", "fix"]), default=None,
              help="Token boundaries, as for `build` [default: [tool.promptc] align, else check].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--allow-root", "allow_roots", multiple=True, type=click.Path(file_okay=False), metavar="DIR",
              help=_ALLOW_ROOT_HELP)
def check(paths, align, fmt, allow_roots):
    """Report every diagnostic under PATHS at once; exit 1 on errors."""
    from promptc.compiler.build import compile_project

    result = compile_project(_paths(paths), align=align, allow_roots=allow_roots)
    _echo_diagnostics(result.diagnostics, fmt, result.root)
    if fmt == "text" and not result.diagnostics:
        click.echo(f"ok: {len(result.plans)} plan(s), no findings")
    sys.exit(1 if result.errors else 0)


@cli.command()
@click.argument("plan_path", type=click.Path(exists=True))
@click.option("--plan", "plan_name", help="Which plan, when PLAN_PATH is a .prompt file or project declaring several")
@click.option("--tree", is_flag=True, help="The prefix tree of every plan at PLAN_PATH (the map of `promptc report`)")
@click.option("--target", help="With --tree: count tokens for this target [default: the most common one]")
@click.option("--width", type=click.IntRange(40, 1000), help="With --tree: columns [default: the terminal's]")
def show(plan_path, plan_name, tree, target, width):
    """A table of a plan's segments: level, stability, role, tokens, short hashes, breakpoints, shared-with.

    PLAN_PATH is what `run` takes: a compiled .plan.json, or a .prompt file / project compiled on the fly.
    With --tree: every plan there as one prefix tree, with tokens and breakpoints."""
    from promptc.runtime.plans import PlanChoiceError
    from promptc.show import render_show

    if tree:
        from promptc.report import tree_text

        click.echo(tree_text(plan_path, target, width), nl=False)
        return

    try:
        render_show(Path(plan_path), plan_name, compile_sources=_compile_sources)
    except PlanChoiceError as exc:
        raise click.UsageError(str(exc)) from None


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--output", "-o", default="cache-report.html", show_default=True, type=click.Path(),
              help="The HTML file to write (one self-contained page)")
@click.option("--target", help="Widths in this target's tokens [default: the target most plans name]")
@click.option("--against", help="Show a change's impact: git ref, promptc.lock file or project directory (as lint)")
@click.option("--trace", "trace_path", help="Show what happened at run time: a JSONL cache trace (Client(trace=...))")
def report(paths, output, target, against, trace_path):
    """Write the cache report: a prefix-sharing map of every plan, with a change's impact and a trace."""
    from promptc.report import write_report

    out = write_report(_paths(paths), output, target=target, against=against, trace=trace_path)
    click.echo(f"wrote {out}")


@cli.command()
@click.argument("code")
def explain(code):
    """Explain a diagnostic code: what it means, why it matters, an example and the fix."""
    from promptc.core.codes import did_you_mean, explain as explain_code, lookup

    entry = lookup(code)
    if entry is None:
        close = did_you_mean(code)
        raise click.UsageError(f"unknown diagnostic code {code!r}" +
                               (f"; did you mean {', '.join(close)}?" if close else "") +
                               " (`python -m promptc.core.codes` lists them all)")
    click.echo(explain_code(entry), nl=False)


@cli.command()
@click.option("--lint", "lint_report", is_flag=True, help="The schema of `promptc lint --format json` instead")
def schema(lint_report):
    """Print the JSON Schema of the plan file format (or of the lint report)."""
    if lint_report:
        from promptc.lint import lint_json_schema

        click.echo(json.dumps(lint_json_schema(), indent=2, sort_keys=True))
        return
    from promptc.plan import plan_json_schema

    click.echo(json.dumps(plan_json_schema(), indent=2, sort_keys=True))


def _compile_sources(path: Path):
    """``(root, plans)`` of a .prompt file or project; compile errors are printed and exit 1."""
    from promptc.compiler.build import compile_project

    result = compile_project([path])
    if result.errors:
        _echo_diagnostics(result.diagnostics, "text", result.root)
        sys.exit(1)
    return result.root, result.plans


def _open_plan(path: str, plan_name: str | None):
    """A plan from a .plan.json, or compiled on the fly from a .prompt file or project directory."""
    from promptc.runtime.plans import PlanChoiceError, open_plan

    try:
        return open_plan(Path(path), plan_name, _compile_sources)
    except PlanChoiceError as exc:
        raise click.UsageError(str(exc)) from None


_DTYPE_HELP = ("Weights [default: int4 on a CPU, bfloat16 on a GPU: the fastest decode, small logit differences]; "
               "float32 is the exact reference; bfloat16, int8 and int4 are weight-only (docs/engine.md)")
_DTYPES = ["float32", "fp32", "bfloat16", "bf16", "int8", "int4"]


@cli.command()
@click.argument("plan_path", type=click.Path(exists=True))
@click.option("--plan", "plan_name", help="Which plan, when PLAN_PATH is a .prompt file or project declaring several")
@click.option("--input", "-i", "inputs", multiple=True,
              help="KEY=VALUE (repeatable); KEY=@file reads a file; non-string types take JSON")
@click.option("--inputs", "inputs_file", type=click.Path(dir_okay=False),
              help='A JSON file of inputs: {"name": value, ...}; --input overrides it')
@click.option("--engine", "engine_url", help="URL of a running `promptc serve`")
@click.option("--embedded", is_flag=True, help="Run the embedded model in this process (the default without --engine)")
@click.option("--target", "target", help="Run on a provider, e.g. anthropic/claude-sonnet-4-5 or openai/gpt-5.6 "
              "(key from ANTHROPIC_API_KEY / OPENAI_API_KEY; base URL from ANTHROPIC_BASE_URL / OPENAI_BASE_URL)")
@click.option("--api-key", envvar="PROMPTC_API_KEY", help="API key for --engine [env: PROMPTC_API_KEY]")
@click.option("--max-tokens", type=int, default=256, show_default=True)
@click.option("--temperature", type=float, default=None,
              help="Sampling temperature, on every target [default: 0 on the engine, the provider's default on --target]")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")
@click.option("--dtype", type=click.Choice(_DTYPES), default=None, help=_DTYPE_HELP)
def run(plan_path, plan_name, inputs, inputs_file, engine_url, embedded, target, api_key, max_tokens, temperature,
        as_json, dtype):
    """Execute a plan once with the given inputs: on a provider (--target), on a server (--engine)
    or in process (--embedded).

    PLAN_PATH is a compiled .plan.json, or a .prompt file / project directory compiled on the fly."""
    from promptc.runtime.engine_client import EmbeddedClient, EngineClient

    if sum(map(bool, (engine_url, embedded, target))) > 1:
        raise click.UsageError("use one of --target, --engine URL or --embedded")
    if not (engine_url or target):
        from promptc.core.extras import require_engine

        require_engine("promptc run --embedded")  # E715 with the install line, before any work
    from promptc.runtime.inputs import gather_inputs

    plan = _open_plan(plan_path, plan_name)
    session_inputs, turn_inputs = gather_inputs(plan, inputs, Path(inputs_file) if inputs_file else None)
    request = plan.bind(**session_inputs).render(**turn_inputs)
    if target:
        from promptc.runtime.client import Client

        with Client(target) as client:
            reply = client.complete(request, max_tokens=max_tokens, temperature=temperature)
        if as_json:
            click.echo(json.dumps(reply.to_json(), indent=2, ensure_ascii=False))
            return
        click.echo(reply.text)
        u = reply.usage
        cost = "unknown" if reply.cost is None else f"${reply.cost:.6f}"
        click.echo(f"[{u.uncached} uncached, {u.cache_read} cache read, {u.cache_write_total} cache write, "
                   f"{u.output} output tokens; cost {cost}; finish: {reply.finish_reason}]", err=True)
        return
    temperature = 0.0 if temperature is None else temperature
    if engine_url:
        with EngineClient(engine_url, api_key=api_key) as client:
            result = client.run(request, max_tokens=max_tokens, temperature=temperature)
    else:
        from promptc.demo import loading
        from promptc.engine import Engine

        with loading("loading the embedded model (SmolLM2-135M-Instruct)"):
            engine = Engine(dtype=dtype)
        result = EmbeddedClient(engine).run(request, max_tokens=max_tokens, temperature=temperature)
    if as_json:
        click.echo(json.dumps({"text": result.text, "usage": result.usage, "segments": result.segments,
                               "finish_reason": result.finish_reason}, indent=2, ensure_ascii=False))
        return
    click.echo(result.text)
    u = result.usage
    click.echo(f"[{u.get('prompt_tokens')} prompt tokens, {result.cached_tokens} cached, "
               f"{u.get('completion_tokens')} completion; finish: {result.finish_reason}]", err=True)


@cli.command()
@click.option("--model", "model_path", type=click.Path(exists=True), help="A .gguf file or a Hugging Face folder [default: embedded SmolLM2-135M]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (loopback by default)")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--budget", default="2GiB", show_default=True, help="KV-tree memory budget")
@click.option("--ttl", default=None, help="Seconds an unused cached segment lives [default: no expiry]")
@click.option("--dtype", type=click.Choice(_DTYPES), default=None, help=_DTYPE_HELP)
@click.option("--keys", "keys_file", type=click.Path(exists=True, dir_okay=False),
              help='JSON {"keys": {"KEY": "tenant"}}; also PROMPTC_API_KEYS="KEY=tenant,..."')
@click.option("--max-body", default="4MiB", show_default=True, help="Largest request body")
@click.option("--max-tokens-limit", default="4096", show_default=True, help="Largest max_tokens a request may ask for")
@click.option("--max-segments", default="256", show_default=True, help="Most segments per request")
@click.option("--max-messages", default="256", show_default=True, help="Most messages per request")
@click.option("--token-cache", default="64MiB", show_default=True, help="Memory for cached token ids (all tenants)")
@click.option("--max-queue", default="64", show_default=True, help="Requests waiting for a batch slot; more get 429")
@click.option("--retry-after", default="1", show_default=True, help="Seconds in a 429's retry-after header")
@click.option("--deadline", default="600", show_default=True,
              help="Seconds a request may take (default and ceiling of its `timeout`)")
@click.option("--metrics-key", default=None,
              help="Bearer key that reads every tenant's /metrics (also PROMPTC_METRICS_KEY)")
@click.option("--header-timeout", default="10", show_default=True, help="Seconds for a request's headers to arrive")
@click.option("--body-timeout", default="30", show_default=True, help="Seconds for a request's body to arrive")
@click.option("--max-connections", default="256", show_default=True, help="Open connections; one more is closed")
@click.option("--segments-redis", "segments_redis", default=None, metavar="URL",
              help="Share named segments (PUT /v1/segments/NAME) with other replicas through Redis/Valkey at URL")
@click.option("--kv-events", "kv_events", default=None, metavar="ENDPOINT",
              help="Publish KV events in vLLM's format on this ZMQ PUB endpoint, e.g. tcp://127.0.0.1:5557")
@click.option("--kv-events-replay", "kv_events_replay", default=None, metavar="ENDPOINT",
              help="ZMQ ROUTER endpoint answering vLLM-style replay requests (with --kv-events)")
@click.option("--replicas", type=click.IntRange(1, 1024), default=None,
              help="Serve N engine replicas on Ray Serve behind one endpoint, routed by segment chain "
                   "(pip install 'promptc[ray]'; joins RAY_ADDRESS's cluster if set). See docs/deploy.md")
def serve(model_path, host, port, budget, ttl, dtype, keys_file, max_body, max_tokens_limit, max_segments,
          max_messages, token_cache, max_queue, retry_after, deadline, metrics_key, header_timeout, body_timeout,
          max_connections, segments_redis, kv_events, kv_events_replay, replicas):
    """Serve the KV-tree engine over an OpenAI-compatible HTTP API.

    Every option is checked, and the port is bound, before the model loads: a bad value or a busy
    port is a usage error (exit 2). Limits are described in docs/security.md."""
    from promptc.core.extras import require_engine

    require_engine("promptc serve", needs_model=model_path is None)  # E715: the light install has no engine
    from promptc.engine.limits import ServerConfig, parse_count, parse_seconds, parse_size

    budget_bytes = parse_size(budget, "--budget")
    ttl_s = parse_seconds(ttl, "--ttl")
    token_cache_bytes = parse_size(token_cache, "--token-cache")
    config = ServerConfig.from_sources(
        keys_file, max_body_bytes=max(1, parse_size(max_body, "--max-body")),
        max_tokens_limit=parse_count(max_tokens_limit, "--max-tokens-limit"),
        default_max_tokens=min(256, parse_count(max_tokens_limit, "--max-tokens-limit")),
        max_segments=parse_count(max_segments, "--max-segments"),
        max_messages=parse_count(max_messages, "--max-messages"),
        max_queue=parse_count(max_queue, "--max-queue"), retry_after_s=parse_count(retry_after, "--retry-after"),
        deadline_s=parse_seconds(deadline, "--deadline"), metrics_key=metrics_key,
        header_timeout_s=parse_seconds(header_timeout, "--header-timeout"),
        body_timeout_s=parse_seconds(body_timeout, "--body-timeout"),
        max_connections=parse_count(max_connections, "--max-connections"))
    if host not in ("127.0.0.1", "localhost", "::1") and not config.api_keys:
        raise click.UsageError("serving beyond loopback needs API keys (--keys or PROMPTC_API_KEYS)")
    if kv_events_replay and not kv_events:
        raise click.UsageError("--kv-events-replay needs --kv-events")
    if replicas is not None:  # the Ray Serve fleet (promptc.deploy.ray): the library does the work
        if kv_events:
            raise click.UsageError("with --replicas every replica publishes KV events on its own endpoint "
                                   "(its router subscribes); drop --kv-events")
        try:
            from promptc.deploy.ray import run as run_fleet
        except ImportError:
            raise click.UsageError("--replicas needs Ray Serve: pip install 'promptc[ray]'") from None
        from promptc.engine.serve import bind_socket

        bind_socket(host, port).close()  # E707 now, not after the replicas load
        try:
            run_fleet({"num_replicas": replicas, "model": model_path, "dtype": dtype, "budget": budget, "ttl": ttl,
                       "token_cache": token_cache, "segments_redis": segments_redis}, config=config, host=host,
                      port=port, on_ready=lambda: click.echo(
                          f"serving {replicas} engine replicas at http://{host}:{port} (Ctrl-C or SIGTERM stops them)"))
        except ConnectionError as exc:  # ray.init could not join RAY_ADDRESS's cluster
            raise click.UsageError(f"cannot join the Ray cluster at RAY_ADDRESS={os.environ.get('RAY_ADDRESS')!r}: "
                                   f"{exc}; a cluster with token authentication also needs RAY_AUTH_MODE=token and "
                                   "its token (docs/deploy.md)") from None
        return
    publisher = None
    if kv_events:  # bound before the model loads: a busy or bad endpoint is a usage error
        from promptc.engine.kv_events import KVEventPublisher

        try:
            publisher = KVEventPublisher(kv_events, replay_endpoint=kv_events_replay)
        except ImportError:
            raise click.UsageError("--kv-events needs pyzmq and msgpack: pip install 'promptc[kv-events]'") from None
        except Exception as exc:  # zmq.ZMQError: an endpoint that cannot be bound
            raise click.UsageError(f"--kv-events {kv_events}: {exc}") from None
    names = None
    if segments_redis:  # checked (reachable) before the model loads
        from promptc.engine.named import NamedError, RedisNames

        try:
            names = RedisNames(segments_redis)
            names.resolve("default", "ping")
        except (NamedError, ValueError, ImportError) as exc:
            raise click.UsageError(f"--segments-redis {segments_redis}: {getattr(exc, 'message', exc)}") from None
    from promptc.engine.serve import bind_socket, run_server

    sock = bind_socket(host, port)  # E707 before the model loads, not after
    try:
        import uvicorn  # noqa: F401  (fail before the slow load if the server stack is missing)

        from promptc.demo import loading
        from promptc.engine import Engine

        with loading("loading the model"):
            engine = Engine(model_path, dtype=dtype, budget_bytes=budget_bytes, ttl_s=ttl_s,
                            token_cache_bytes=token_cache_bytes)
        click.echo(f"promptc engine: {engine.model_name} ({engine.dtype_name}, {engine.model.device}, "
                   f"kernel {engine.model.kernel}), "
                   f"budget {budget}, "
                   f"{len(config.api_keys)} API key(s); http://{host}:{sock.getsockname()[1]}/v1", err=True)
        if publisher is not None:
            publisher.attach(engine.tree)
            click.echo(f"promptc engine: KV events on {publisher.endpoint}"
                       + (f", replay on {publisher.replay_endpoint}" if publisher.replay_endpoint else ""), err=True)
        run_server(engine, config, sock, names=names)
    finally:
        sock.close()


@cli.command()
@click.argument("project", type=click.Path(exists=True, file_okay=False), default="examples/team")
@click.option("--turns", default=3, show_default=True, type=click.IntRange(1, 1000), help="Interleaved turns per agent")
@click.option("--max-tokens", default=48, show_default=True, type=click.IntRange(1, 4096))
@click.option("--budget", default="1GiB", show_default=True)
@click.option("--out", "out", type=click.Path(file_okay=False), help="Also write the plans here [default: write nothing]")
@click.option("--inputs", "inputs_file", type=click.Path(exists=True, dir_okay=False),
              help='A JSON file of inputs, {"name": value, ...}, for every plan that declares them')
@click.option("--input", "-i", "inputs", multiple=True, help="KEY=VALUE (repeatable); overrides --inputs")
@click.option("--dtype", type=click.Choice(_DTYPES), default=None, help=_DTYPE_HELP)
def demo(project, turns, max_tokens, budget, out, inputs_file, inputs, dtype):
    """Build PROJECT, start the engine, and run its agents through interleaved turns.

    Writes nothing into PROJECT or the current directory (plans go to --out only when given). Required
    session inputs not given with --inputs/-i get sample values."""
    from promptc.core.extras import require_engine

    require_engine("promptc demo")  # E715 with the install line on the light install
    from promptc.demo import run_demo
    from promptc.engine.limits import parse_size

    budget_bytes = parse_size(budget, "--budget")  # E701 before anything is built or loaded
    run_demo(Path(project), turns=turns, max_tokens=max_tokens, budget_bytes=budget_bytes,
             out=Path(out) if out else None, inputs_file=Path(inputs_file) if inputs_file else None, pairs=inputs,
             dtype=dtype)


@cli.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 when a file would be reformatted")
def fmt_cmd(paths, check_only):
    """Format .prompt files canonically (never changes a compiled byte). Exit 0 ok, 1 would reformat or
    syntax errors, 2 a path refused (a symlink out of the project, a missing file). PATHS `-`: read
    stdin, write the formatted text to stdout (for editors)."""
    from promptc.fmt import format_files, format_source

    if list(paths) == ["-"]:
        text = sys.stdin.read()
        result = format_source(text, "<stdin>")
        if result.text is None:
            for d in result.diagnostics:
                click.echo(d.render(), err=True)
            sys.exit(1)
        if not check_only:
            click.echo(result.text, nl=False)
        sys.exit(1 if check_only and result.text != text else 0)
    outcomes, problems = format_files(_paths(paths), check=check_only)
    refused = bool(problems)
    for d in problems:
        click.echo(d.render(), err=True)
    changed = 0
    errors = sum(1 for o in outcomes if o.diagnostics)  # files left alone
    for o in outcomes:
        for d in o.diagnostics:
            click.echo(d.render(), err=True)
            refused = refused or d.code.startswith("E8") or d.code == "E127"
        if o.changed:
            changed += 1
            click.echo(f"{'would reformat' if check_only else 'reformatted'} {o.path}")
    verb = "would be reformatted" if check_only else "reformatted"
    click.echo(f"{changed} file(s) {verb}, {len(outcomes) - changed - errors} unchanged"
               + (f", {errors} not formatted" if errors else ""), err=True)
    if refused:
        sys.exit(2)
    sys.exit(1 if errors or (check_only and changed) else 0)


@cli.command("lsp")
def lsp_cmd():
    """Run the language server over stdio (editors start it; needs `pip install 'promptc[lsp]'`)."""
    try:
        import pygls  # noqa: F401  (only to say what to install)
    except ImportError:
        raise click.ClickException("`promptc lsp` needs the lsp extra: pip install 'promptc[lsp]'") from None
    from promptc.lsp.server import serve

    serve()


@cli.command("init")
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--action", default=None, metavar="OWNER/REPO@REF",
              help="The promptc GitHub Action the CI workflow uses [default: a placeholder to replace]")
def init_cmd(directory, action):
    """Create a starter project in DIRECTORY: shared rules, append-only tools, an agent with memory, a turn
    task, pyproject [tool.promptc], .gitignore, a pre-commit config and a CI workflow. Overwrites nothing."""
    from promptc.scaffold import ACTION_PLACEHOLDER, init_project

    created = init_project(Path(directory), action or ACTION_PLACEHOLDER)
    for rel in created.files:
        click.echo(f"created {Path(directory) / rel}")
    click.echo(f"next: cd {directory} && promptc build && promptc check && git init && promptc lint")
    if action is None:
        click.echo(f"note: replace {ACTION_PLACEHOLDER} in .github/workflows/promptc.yml with the repository and tag "
                   "you take promptc from (or pass --action)", err=True)


def _sim_command() -> click.Command:
    from promptc.runtime.commands import sim

    return sim


def _trace_command() -> click.Command:
    from promptc.runtime.commands import trace

    return trace


def _warm_command() -> click.Command:
    from promptc.runtime.cache_commands import warm_command

    return warm_command(_compile_sources)


def _simulate_command() -> click.Command:
    from promptc.runtime.simulate.cli import simulate_command

    return simulate_command(_compile_sources)


def _observe_command() -> click.Command:
    from promptc.observe.commands import observe_command

    return observe_command


def _providers_command() -> click.Command:
    @click.command("providers")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @click.option("--break-even", "break_even", multiple=True, metavar="TARGET",
                  help="Instead: when long retention pays for itself on TARGET (repeatable; docs/providers.md)")
    def providers(fmt: str, break_even: tuple[str, ...]) -> None:
        """Every provider and model promptc knows: limits, TTLs, prices, and each fact's source and date."""
        from promptc.core.providers.listing import provider_table, render_text

        if break_even:
            from promptc.runtime.config import RuntimeConfig
            from promptc.runtime.keys import format_break_even, retention_break_even

            prices = RuntimeConfig.discover().prices
            rows = [retention_break_even(t, prices) for t in break_even]
            click.echo(json.dumps(rows, indent=2, sort_keys=True) if fmt == "json"
                       else "".join(format_break_even(r) for r in rows), nl=fmt == "json")
            return
        table = provider_table()
        click.echo(json.dumps(table, indent=2, sort_keys=True) if fmt == "json" else render_text(table), nl=False)

    return providers


def _import_command() -> click.Command:
    from promptc.observe.commands import import_command

    return import_command


def _test_command() -> click.Command:
    from promptc.runtime.golden import golden_command

    return golden_command(_compile_sources)


#: ``promptc sim``, ``trace``, ``warm`` and ``simulate`` live with the provider runtime
#: (promptc/runtime/commands.py, cache_commands.py, simulate/cli.py): name → (loader, one-line help).
_LAZY = {
    "sim": (_sim_command, "The provider simulator: Anthropic/OpenAI wire formats and cache semantics on loopback."),
    "trace": (_trace_command, "Read JSONL cache traces written with Client(..., trace=PATH)."),
    "warm": (_warm_command, "Create or refresh the caches of every plan's static prefix, each shared prefix once "
                            "per target."),
    "simulate": (_simulate_command, "Replay a workload through the provider simulator and compare caching "
                                    "strategies per target: no caching, the provider's naive default, promptc's "
                                    "placement and the theoretical best."),
    "observe": (_observe_command, "Proxy an agent's model calls and explain each cache miss (cause, first changed "
                                  "segment, cost) in a trace."),
    "providers": (_providers_command, "Every provider and model promptc knows: limits, TTLs, prices, and each "
                                      "fact's source and date."),
    "import": (_import_command, "Write a starter .prompt project from traffic recorded by `promptc observe "
                                "--record-bodies`."),
    "test": (_test_command, "Render every plan for every target into the exact provider payload and compare it "
                            "with golden fixtures."),
}


def main() -> None:
    """Entry point: user mistakes exit 1/2 with a message, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except PromptcError as exc:  # compile findings exit 1; bad inputs, plans or requests are usage errors
        from promptc.core.errors import CompileError

        click.echo(str(exc), err=True)
        sys.exit(1 if isinstance(exc, CompileError) else 2)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # an internal error: say so plainly; the traceback is opt-in
        if os.environ.get("PROMPTC_DEBUG"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc}\n(set PROMPTC_DEBUG=1 for a traceback and "
                   "please report it)", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
