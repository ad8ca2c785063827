"""The ``promptc`` command line: thin wrappers over the library. Exit codes: 0 ok, 1 findings, 2 usage/internal."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from promptc import __version__
from promptc.errors import PromptcError


def _echo_diagnostics(diags, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([d.to_json() for d in diags], indent=2, ensure_ascii=False))
        return
    for d in diags:
        click.echo(d.render(), err=True)
        click.echo("", err=True)
    errors = sum(1 for d in diags if d.is_error)
    warnings = len(diags) - errors
    if diags:
        click.echo(f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}",
                   err=True)


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
    written = write_outputs(result, out_dir, lock_path)
    click.echo(f"built {len(result.plans)} plan(s) into {out_dir} ({len(written)} file(s) changed)")


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
    except PromptcError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2 if exc.code in ("E403",) else 1)
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
