"""``promptc observe`` and ``promptc import`` (registered by :mod:`promptc.cli`): thin wrappers over
:class:`~promptc.observe.proxy.ObserveProxy` and :func:`~promptc.observe.importer.import_trace`."""

from __future__ import annotations

import click

from promptc.observe.errors import ObserveConfigError


def _limits(pairs: tuple[str, ...]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for p in pairs:
        prefix, sep, n = p.partition("=")
        if not sep or not prefix or not n.isdigit():
            raise ObserveConfigError(f"error[E560]: --min-tokens takes TARGET_PREFIX=N (e.g. anthropic/=256), "
                                     f"not {p!r}")
        out[prefix] = {"min_tokens": int(n)}
    return out


@click.command("observe")
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (loopback; another needs --key)")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535))
@click.option("--trace", "trace_path", default="cache-trace.jsonl", show_default=True, type=click.Path(dir_okay=False),
              help="JSONL cache trace the records are appended to")
@click.option("--anthropic-upstream", default="https://api.anthropic.com", show_default=True,
              help="Where Anthropic Messages calls go")
@click.option("--openai-upstream", default="https://api.openai.com", show_default=True,
              help="Where OpenAI Chat Completions / Responses calls go")
@click.option("--gemini-upstream", default="https://generativelanguage.googleapis.com", show_default=True,
              help="Where Gemini generateContent calls go")
@click.option("--key", envvar="PROMPTC_OBSERVE_KEY", default=None,
              help="Required off loopback: agents send it as x-promptc-key [env: PROMPTC_OBSERVE_KEY]")
@click.option("--record-bodies", is_flag=True,
              help="Store whole segment texts in the trace (for `promptc import`); default: hashes and excerpts")
@click.option("--min-tokens", "min_tokens", multiple=True, metavar="PREFIX=N",
              help="Override a minimum cacheable prefix, e.g. anthropic/=256 (for a simulator with a lowered one)")
def observe_command(host, port, trace_path, anthropic_upstream, openai_upstream, gemini_upstream, key, record_bodies,
                    min_tokens):
    """Proxy an agent's model calls and explain each cache miss (cause, first changed segment, cost) in a trace.

    Point ANTHROPIC_BASE_URL=http://HOST:PORT or OPENAI_BASE_URL=http://HOST:PORT/v1 at it
    (prefix a path with /agent/NAME to label an agent). Then `promptc trace stats TRACE`.
    """
    from promptc.observe.exchange import summary
    from promptc.observe.explain import Observer
    from promptc.observe.proxy import ObserveProxy, ProxyServer

    obs = Observer(cache_limits=_limits(min_tokens), record_bodies=record_bodies)
    proxy = ObserveProxy(obs, trace_path, upstreams={"anthropic": anthropic_upstream, "openai": openai_upstream,
                                               "gemini": gemini_upstream}, key=key, on_record=lambda rec: click.echo(summary(rec), err=True))
    server = ProxyServer(proxy, host=host, port=port)
    click.echo(f"promptc observe: http://{host}:{server.port} → anthropic {anthropic_upstream}, openai "
               f"{openai_upstream}; trace {trace_path}", err=True)
    click.echo(f"export ANTHROPIC_BASE_URL=http://{host}:{server.port} OPENAI_BASE_URL=http://{host}:{server.port}/v1",
               err=True)
    server.run()


@click.command("import")
@click.argument("trace_path", type=click.Path(dir_okay=False))
@click.option("--out", "out", default="imported", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the project (never overwritten)")
def import_command(trace_path, out):
    """Write a starter .prompt project from traffic recorded by `promptc observe --record-bodies`.

    One .prompt file per agent, shared.prompt for blocks several agents send byte for byte, and
    inputs.json with each observed request's inputs. Never overwrites a file (E970).
    """
    from promptc.observe.importer import import_trace
    from promptc.runtime.trace import read_trace

    res = import_trace(read_trace(trace_path), out)
    for f in res.findings:
        click.echo(f.render(), err=True)
    click.echo(f"wrote {len(res.files)} files to {out}: plans {', '.join(res.plans)}; "
               f"{len(res.findings)} finding(s); observed inputs in {out}/inputs.json")
