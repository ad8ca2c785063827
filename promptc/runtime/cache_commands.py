"""``promptc warm``: the thin CLI over :func:`promptc.runtime.warm.warm_plans`.

The runtime never imports the compiler, so the CLI hands in ``compile_sources`` (see
:mod:`promptc.runtime.plans`) when it registers the command (:func:`warm_command`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from promptc.runtime.plans import CompileSources


def _base_urls(values: tuple[str, ...], targets: tuple[str, ...]) -> dict[str, str]:
    """``--base-url URL`` (every target) or ``--base-url provider=URL`` (one provider)."""
    out: dict[str, str] = {}
    for v in values:
        if "=" in v and not v.split("=", 1)[0].startswith("http"):
            provider, url = v.split("=", 1)
            out[provider.strip()] = url.strip()
        else:
            out["*"] = v
    return out


def warm_command(compile_sources: CompileSources) -> click.Command:
    """The ``promptc warm`` command, compiling ``.prompt`` sources with ``compile_sources``."""

    @click.command("warm")
    @click.argument("paths", nargs=-1, type=click.Path(exists=True))
    @click.option("--target", "targets", multiple=True, required=True,
                  help="provider/model to warm (repeatable), e.g. anthropic/claude-sonnet-4-5")
    @click.option("--plan", "plan_names", multiple=True, help="Only these plans (repeatable) [default: all]")
    @click.option("--base-url", "base_urls", multiple=True, metavar="[PROVIDER=]URL",
                  help="Base URL for every target, or for one provider (repeatable) [default: the provider's "
                       "SDK variable, e.g. ANTHROPIC_BASE_URL]")
    @click.option("--retention", type=click.Choice(["short", "long"]), default=None,
                  help="Cache retention of the warmed prefixes [default: the project's cacheRetention]")
    @click.option("--tenant", default=None, help="Tenant/account scope of the caches")
    @click.option("--registry", "registry_path", type=click.Path(dir_okay=False), default=None,
                  help="SQLite cache registry for cache objects [default: the user cache dir]")
    @click.option("--trace", "trace_path", type=click.Path(dir_okay=False), default=None,
                  help="Append the warm requests and cache-object events to this JSONL trace")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @click.option("--named", is_flag=True, default=False,
                  help="promptc's engine: deploy the static segments as named segments (PUT /v1/segments/{id})")
    def warm(paths, targets, plan_names, base_urls, retention, tenant, registry_path, trace_path, fmt, named):
        """Create or refresh the caches of every plan's static prefix, each shared prefix once per target."""
        from promptc.runtime.client import Client
        from promptc.runtime.plans import open_plans
        from promptc.runtime.registry import CacheRegistry, SQLiteBackend
        from promptc.runtime.warm import format_results, warm_plans

        plans: dict[str, Any] = {}
        for p in paths or (".",):
            names, built = open_plans(Path(p), compile_sources)
            for n in names:
                plans.setdefault(n, built[n])
        if plan_names:
            missing = [n for n in plan_names if n not in plans]
            if missing:
                raise click.UsageError(f"no plan {', '.join(missing)} (plans: {', '.join(plans) or 'none'})")
            plans = {n: plans[n] for n in plan_names}
        urls = _base_urls(base_urls, targets)
        registry = CacheRegistry(SQLiteBackend(registry_path))
        clients = []
        try:
            for t in targets:
                provider = t.split("/", 1)[0]
                clients.append(Client(t, base_url=urls.get(provider) or urls.get("*"), retention=retention,
                                      tenant=tenant, registry=registry, trace=trace_path))
            results = warm_plans(list(plans.values()), clients, named=named)
        finally:
            for c in clients:
                c.close()
        if fmt == "json":
            click.echo(json.dumps([r.to_json() for r in results], indent=2, sort_keys=True))
        else:
            click.echo(format_results(results))

    return warm


__all__ = ["warm_command"]
