"""``promptc providers``: every provider and model promptc knows, with its limits, TTLs, prices and
each fact's source and date — read from the specs (and :func:`promptc.core.prices.price_for`), never
restated. :func:`facts_markdown` is the generated block of docs/providers.md.
"""

from __future__ import annotations

from typing import Any, Mapping

from promptc.core.prices import price_for
from promptc.core.providers import SPECS
from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source


def _source(s: Source) -> dict[str, str]:
    return {"ref": s.ref, "date": s.date, **({"note": s.note} if s.note else {})}


def _price(target: str, overrides: Mapping[str, Mapping] | None) -> dict[str, Any] | None:
    if "/" not in target:  # a provider's default row names no model
        return None
    try:
        price = price_for(target, overrides)
    except Exception:  # noqa: BLE001 - the price data is another module's: a failure there is "unpriced" here
        return None
    if price is None:
        return None
    out: dict[str, Any] = {"input": price.input, "output": price.output, "read": price.read,
                           "write": dict(price.write)}
    for extra in ("storage", "source", "read_modes"):
        value = getattr(price, extra, None)
        if value:
            out[extra] = dict(value) if extra == "read_modes" else value
    return out


def _row(spec: ProviderSpec, row: ModelLimits, overrides: Mapping[str, Mapping] | None) -> dict[str, Any]:
    model = row.key.split("/", 1)[1]
    return {"model": model or "*", "min_tokens": row.min_tokens, "max_breakpoints": row.max_breakpoints,
            "mode": row.mode, "block_size": row.block_size, "lookback": row.lookback,
            "ttls": list(row.ttls) if row.ttls is not None else sorted(spec.ttls),
            "retention": dict(row.retention if row.retention is not None else spec.retention),
            "price": _price(row.key.rstrip("/"), overrides), "source": _source(row.source)}


def provider_table(price_overrides: Mapping[str, Mapping] | None = None) -> list[dict[str, Any]]:
    """Every provider's facts (JSON-ready), in registry order; model rows sorted by model."""
    out = []
    for spec in SPECS.values():
        rows = sorted((r for r in spec.models if r.alias_of is None), key=lambda r: r.key)
        out.append({
            "provider": spec.name, "render": list(spec.render), "tools_first": spec.tools_first,
            "tokenizer": dict(zip(("id", "exact"), spec.tokenizer(""))), "usage": spec.usage,
            "env_key": spec.env_key, "base_url_env": spec.base_url_env, "default_base_url": spec.default_base_url,
            "ttls": dict(spec.ttls), "retention": dict(spec.retention),
            "write_multipliers": dict(spec.write_multipliers),
            "aliases": sorted(r.key.split("/", 1)[1] for r in spec.models if r.alias_of is not None)[:3],
            "models": [_row(spec, r, price_overrides) for r in rows],
            # the provider's own price facts (used where genai-prices has no row), as priced now
            "prices": [{"model": f.key.split("/", 1)[1], "price": _price(f.key, price_overrides),
                        "source": _source(f.source)} for f in spec.prices],
            "sources": {k: _source(v) for k, v in spec.sources.items()},
        })
    return out


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "none (memory-bound)"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def facts_markdown(table: list[dict[str, Any]] | None = None) -> str:
    """The provider facts as Markdown (the generated block of docs/providers.md; no prices: those
    change with the price data, ``promptc providers`` prints them)."""
    table = provider_table() if table is None else table
    lines: list[str] = []
    for p in table:
        lines += [f"### {p['provider']}", ""]
        order = "tools first, then system and messages in plan order" if p["tools_first"] else "plan order"
        ttls = ", ".join(f"`{k}` = {_fmt_s(v)}" for k, v in p["ttls"].items()) or "none (memory-bound)"
        retention = ", ".join(f"{k} → `{v}`" for k, v in p["retention"].items()) or "—"
        writes = ", ".join(f"`{k}` {v:g}×" for k, v in p["write_multipliers"].items()) or "—"
        tok = (f"`{p['tokenizer']['id']}`" + ("" if p["tokenizer"]["exact"] else " (proxy)")
               if p["tokenizer"]["id"] else "named by the model")
        lines += [f"- Wire order: {order}; usage counters {p['usage']}; tokenizer {tok}",
                  f"- Keys: `{p['env_key'] or '—'}`, base URL `{p['base_url_env'] or '—'}` "
                  f"(default `{p['default_base_url'] or '—'}`)",
                  f"- TTLs: {ttls}; retention {retention}; write multipliers (beyond the price data) {writes}",
                  "", "| model | min tokens | breakpoints | mode | block | lookback | TTLs | source |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in p["models"]:
            src = m["source"]
            lines.append(f"| `{m['model']}` | {m['min_tokens'] if m['min_tokens'] is not None else 'unpublished'} "
                         f"| {m['max_breakpoints']} | {m['mode']} | {m['block_size'] or '—'} | {m['lookback'] or '—'} "
                         f"| {', '.join(m['ttls']) or '—'} | {src['ref']} ({src['date']}) |")
        for f in p.get("prices", []):
            lines += ["", f"Price (the provider's page; the price library has none): `{f['model']}` "
                          f"{_fmt_price(f['price'])} — {f['source']['ref']} ({f['source']['date']})"]
        if p["aliases"]:
            lines += ["", f"Regional model ids (e.g. `{p['aliases'][0]}`) take their family's row."]
        lines += ["", "Sources: " + "; ".join(f"{k}: {v['ref']} ({v['date']}{', ' + v['note'] if v.get('note') else ''})"
                                             for k, v in p["sources"].items()), ""]
    return "\n".join(lines).rstrip() + "\n"


def _fmt_price(price: Mapping[str, Any] | None) -> str:
    if not price:
        return "unpriced"
    modes = "".join(f", {k} {v:g}x" for k, v in price.get("read_modes", {}).items())
    writes = "".join(f", write {k} {v:g}x" for k, v in price["write"].items())
    return f"${price['input']:g}/${price['output']:g} per MTok, read {price['read']:g}x{modes}{writes}"


def render_text(table: list[dict[str, Any]]) -> str:
    """``promptc providers`` as text: one block per provider, one line per model."""
    out: list[str] = []
    for p in table:
        ttls = ", ".join(f"{k}={_fmt_s(v)}" for k, v in p["ttls"].items()) or "none"
        out.append(f"{p['provider']}: wire {'tools first' if p['tools_first'] else 'plan order'}; TTLs {ttls}; "
                   f"key {p['env_key'] or '-'}; base URL {p['default_base_url'] or '-'}")
        for m in p["models"]:
            price = m["price"]
            cost = (f"${price['input']:g}/${price['output']:g} per MTok, read {price['read']:g}x"
                    if price else "unpriced")
            out.append(f"  {m['model']:<34} min {m['min_tokens'] if m['min_tokens'] is not None else '-':>5}  "
                       f"bp {m['max_breakpoints']}  {m['mode']:<9} {cost}  [{m['source']['ref']} {m['source']['date']}]")
        for f in p.get("prices", []):
            src = (f["price"] or {}).get("source") or f"{f['source']['ref']} (read {f['source']['date']})"
            out.append(f"  price {f['model']:<28} {_fmt_price(f['price'])}  [{src}]")
    return "\n".join(out) + "\n"
