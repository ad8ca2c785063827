"""The ``promptc`` command line: thin wrappers over the library. Exit codes: 0 ok, 1 findings, 2 usage/internal."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from promptc import __version__
from promptc.errors import PromptcError


def _diagnostics_text(diags) -> str:
    if not diags:
        return ""
    errors = sum(1 for d in diags if d.is_error)
    warnings = len(diags) - errors
    body = "".join(d.render() + "\n\n" for d in diags)
    return body + f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"


def _echo_diagnostics(diags, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([d.to_json() for d in diags], indent=2, ensure_ascii=False))
        return
    if diags:
        click.echo(_diagnostics_text(diags), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promptc")
def cli() -> None:
    """promptc: compile .prompt files into segment-hashed, cache-friendly request plans."""


def _compile(paths, align="check"):
    from promptc.compiler.build import compile_project

    return compile_project(list(paths) or ["."], align=align)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--out", "out", type=click.Path(file_okay=False), help="Directory for <plan>.plan.json [default: <root>/.promptc/plans]")
@click.option("--lock", "lock", type=click.Path(dir_okay=False), help="Lockfile path [default: <root>/promptc.lock]")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the lock or plans are stale (CI mode).")
@click.option("--align", type=click.Choice(["check", "fix"]), default="check", show_default=True,
              help="Token boundaries: report unstable ones, or apply the documented normalization and report it.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def build(paths, out, lock, check, align, fmt):
    """Compile every plan under PATHS and write plans plus promptc.lock."""
    from promptc.compiler import manifest

    if not check:  # the no-op shortcut: nothing the last build read has changed
        rec = manifest.fresh(list(paths) or ["."], Path(out) if out else None, Path(lock) if lock else None, align)
        if rec is not None:
            if fmt == "json":
                click.echo(json.dumps(rec["diagnostics_json"], indent=2, ensure_ascii=False))
            elif rec["diagnostics"]:
                click.echo(rec["diagnostics"], err=True)
            click.echo(rec["summary"] + " (up to date: no input changed)")
            return
    from promptc.compiler.emit import check_outputs, default_lock, default_out, write_outputs

    result = _compile(paths, align)
    _echo_diagnostics(result.diagnostics, fmt)
    if result.errors:
        sys.exit(1)
    out_dir = Path(out) if out else default_out(result.root)
    lock_path = Path(lock) if lock else default_lock(result.root)
    if check:
        changes = check_outputs(result, out_dir, lock_path)
        for c in changes:
            click.echo(f"{'✗' if c.breaking else '•'} {c.plan}: {c.message}")
        if changes:
            breaking = sum(c.breaking for c in changes)
            click.echo(f"stale: {len(changes)} change(s), {breaking} cache-breaking; run `promptc build` and commit",
                       err=True)
            sys.exit(1)
        click.echo(f"up to date: {len(result.plans)} plan(s)")
        return
    contents: dict[Path, bytes] = {}
    written = write_outputs(result, out_dir, lock_path, contents)
    summary = f"built {len(result.plans)} plan(s) into {out_dir}"
    click.echo(f"{summary} ({len(written)} file(s) changed)")
    diag_text = _diagnostics_text(result.diagnostics)
    manifest.save(result.root, list(paths) or ["."], out_dir, lock_path, align, result.dependencies, result.sources,
                  contents, diag_text, summary, [d.to_json() for d in result.diagnostics])


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(paths, fmt):
    """Report every diagnostic under PATHS at once; exit 1 on errors."""
    result = _compile(paths)
    _echo_diagnostics(result.diagnostics, fmt)
    if fmt == "text" and not result.diagnostics:
        click.echo(f"ok: {len(result.plans)} plan(s), no findings")
    sys.exit(1 if result.errors else 0)


@cli.command()
@click.argument("plan_path", type=click.Path(exists=True, dir_okay=False))
def show(plan_path):
    """A table of PLAN_PATH's segments: level, stability, role, tokens, short hashes, shared-with."""
    from promptc.show import render_show

    render_show(Path(plan_path))


@cli.command()
def schema():
    """Print the JSON Schema of the plan file format."""
    from promptc.plan import plan_json_schema

    click.echo(json.dumps(plan_json_schema(), indent=2, sort_keys=True))


def _parse_inputs(plan, pairs) -> tuple[dict, dict]:
    """``k=v`` pairs → (session inputs, turn inputs). ``k=@file`` reads a file; non-string types
    take JSON (``n=3``, ``tags=["a","b"]``, ``customer={"name": "Ada", ...}``)."""
    specs = {s.name: s for s in plan.inputs}
    session, turn = {}, {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.UsageError(f"--input expects KEY=VALUE, got {pair!r}")
        if key not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise click.UsageError(f"plan `{plan.name}` has no input `{key}` (inputs: {known})")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                raise click.UsageError(f"--input {key}: cannot read {value[1:]}: {exc.strerror}") from None
        spec = specs[key]
        if spec.type["type"] not in ("string", "enum"):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise click.UsageError(f"--input {key}: a {spec.type['type']} value must be JSON, got {value!r}") from None
        (session if spec.stability == "session" else turn)[key] = value
    return session, turn


def _load_runnable(path: str, plan_name: str | None):
    """A plan from a .plan.json, or compiled on the fly from a .prompt file or project directory."""
    from promptc.plan import load_plan

    p = Path(path)
    if p.is_file() and p.name.endswith(".plan.json"):
        return load_plan(p)
    from promptc.compiler.build import compile_project

    result = compile_project([p])
    if result.errors:
        _echo_diagnostics(result.diagnostics, "text")
        sys.exit(1)
    if p.is_file():  # the plans declared in that file
        display = p.name
        names = [n for n, plan in result.plans.items() if plan.source.path == display]
    else:
        names = list(result.plans)
    if plan_name:
        if plan_name not in result.plans:
            raise click.UsageError(f"no plan `{plan_name}` in {path} (plans: {', '.join(result.plans)})")
        return result.plans[plan_name]
    if len(names) != 1:
        raise click.UsageError(f"{path} declares {len(names)} plans ({', '.join(names)}); choose one with --plan")
    return result.plans[names[0]]


_DTYPE_HELP = ("Weights: float32 is the exact reference; bfloat16, int8 and int4 (weight-only, CPU kernels) "
               "decode faster with small logit differences (docs/engine.md)")
_DTYPES = ["float32", "fp32", "bfloat16", "bf16", "int8", "int4"]


@cli.command()
@click.argument("plan_path", type=click.Path(exists=True))
@click.option("--plan", "plan_name", help="Which plan, when PLAN_PATH is a .prompt file or project declaring several")
@click.option("--input", "-i", "inputs", multiple=True, help="KEY=VALUE (repeatable); KEY=@file reads a file")
@click.option("--engine", "engine_url", help="URL of a running `promptc serve`")
@click.option("--embedded", is_flag=True, help="Run the embedded model in this process (the default without --engine)")
@click.option("--api-key", envvar="PROMPTC_API_KEY", help="API key for --engine [env: PROMPTC_API_KEY]")
@click.option("--max-tokens", type=int, default=256, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")
@click.option("--dtype", type=click.Choice(_DTYPES), default="float32", show_default=True, help=_DTYPE_HELP)
def run(plan_path, plan_name, inputs, engine_url, embedded, api_key, max_tokens, temperature, as_json, dtype):
    """Execute a plan once with the given inputs, on a server (--engine) or in process (--embedded).

    PLAN_PATH is a compiled .plan.json, or a .prompt file / project directory compiled on the fly."""
    from promptc.runtime.engine_client import EmbeddedClient, EngineClient

    if engine_url and embedded:
        raise click.UsageError("use either --engine URL or --embedded")
    plan = _load_runnable(plan_path, plan_name)
    session_inputs, turn_inputs = _parse_inputs(plan, inputs)
    request = plan.bind(**session_inputs).render(**turn_inputs)
    if engine_url:
        with EngineClient(engine_url, api_key=api_key) as client:
            result = client.run(request, max_tokens=max_tokens, temperature=temperature)
    else:
        from promptc.engine import Engine

        result = EmbeddedClient(Engine(dtype=dtype)).run(request, max_tokens=max_tokens, temperature=temperature)
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
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--budget", default="2GiB", show_default=True, help="KV-tree memory budget")
@click.option("--ttl", type=float, default=None, help="Seconds an unused cached segment lives")
@click.option("--dtype", type=click.Choice(_DTYPES), default="float32", show_default=True, help=_DTYPE_HELP)
@click.option("--keys", "keys_file", type=click.Path(exists=True, dir_okay=False),
              help='JSON {"keys": {"KEY": "tenant"}}; also PROMPTC_API_KEYS="KEY=tenant,..."')
def serve(model_path, host, port, budget, ttl, dtype, keys_file):
    """Serve the KV-tree engine over an OpenAI-compatible HTTP API."""
    import uvicorn

    from promptc.engine import Engine
    from promptc.engine.server import EngineServer, ServerConfig, parse_size

    try:
        budget_bytes = parse_size(budget)
    except ValueError:
        raise click.UsageError(f"--budget: cannot read {budget!r} (e.g. 2GiB, 512MiB)") from None
    config = ServerConfig.from_sources(keys_file)
    if host not in ("127.0.0.1", "localhost", "::1") and not config.api_keys:
        raise click.UsageError("serving beyond loopback needs API keys (--keys or PROMPTC_API_KEYS)")
    from promptc.demo import loading

    with loading("loading the model"):
        engine = Engine(model_path, dtype=dtype, budget_bytes=budget_bytes, ttl_s=ttl)
    click.echo(f"promptc engine: {engine.model_name} ({dtype}, {engine.model.device}), budget {budget}, "
               f"{len(config.api_keys)} API key(s); http://{host}:{port}/v1", err=True)
    uvicorn.run(EngineServer(engine, config).app, host=host, port=port, log_level="warning")


@cli.command()
@click.argument("project", type=click.Path(exists=True, file_okay=False), default="examples/team")
@click.option("--turns", default=3, show_default=True, help="Interleaved turns per agent")
@click.option("--max-tokens", default=48, show_default=True)
@click.option("--budget", default="1GiB", show_default=True)
@click.option("--dtype", type=click.Choice(_DTYPES), default="float32", show_default=True, help=_DTYPE_HELP)
def demo(project, turns, max_tokens, budget, dtype):
    """Build PROJECT, start the engine, and run its agents through interleaved turns."""
    from promptc.demo import run_demo
    from promptc.engine.server import parse_size

    run_demo(Path(project), turns=turns, max_tokens=max_tokens, budget_bytes=parse_size(budget), dtype=dtype)


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
        from promptc.errors import CompileError

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
