"""One self-contained HTML page: the map as inline SVG, then the tables (impact, run time, plans,
segments).

Rules the page keeps (tests/report/ checks them in a real browser):

- No URL outside the page: no CDN, no fonts, no images; links are ``#fragment`` only.
- Readable without JavaScript: the map and the tables are plain SVG and HTML; each box is a link to
  its row in the segment table (highlighted with ``:target``) and carries a ``<title>`` tooltip. The
  small inline script only adds a details panel on click.
- Text, not colour alone: every box names its stability in its tooltip and the tables; append-only
  boxes end in a dashed edge and ``⇢``, breakpoints are marked ``▼``, invalidated boxes are hatched
  and marked ``✗``. Colours follow ``prefers-color-scheme`` (light and dark).
- Deterministic: the same inputs give the same bytes (no timestamps, no random ids; numbers are
  formatted with fixed precision; every ordering is sorted).
- Every number a test compares carries its exact value in a ``data-v`` attribute.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Iterable

from promptc.report.impact import MapImpact
from promptc.report.layout import Box, Layout, layout
from promptc.report.model import Node, PrefixMap
from promptc.report.runtime import RunView

#: Pixel geometry of the map.
LABEL_W, CHART_W, TOTAL_W, LANE_H, TOP = 170, 760, 90, 30, 28
#: Segment rows beyond which the segment table starts folded (a <details> element).
FOLD_ROWS = 60

CSS = """
:root{--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--static:#8cb4e8;--session:#f2c46d;--turn:#c9b3e6;
--more:#e1e4e8;--inval:#cf222e;--bp:#1b1f24;--hit:#1a7f37;--row:#fff8c5;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--static:#1f5fa8;
--session:#9a6700;--turn:#6e40c9;--more:#30363d;--inval:#ff7b72;--bp:#e6edf3;--hit:#3fb950;--row:#3b2e00}}
body{background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,sans-serif;margin:1.5rem;max-width:1100px}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid var(--line)}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}td,th{border:1px solid var(--line);padding:2px 6px;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr:target{background:var(--row)}code{font-size:12px}.muted{color:var(--muted)}
svg text{fill:var(--fg);font:12px system-ui,sans-serif}svg .lab{font-size:11px}
.seg rect.b{stroke:var(--bg);stroke-width:1}.st-static rect.b{fill:var(--static)}.st-session rect.b{fill:var(--session)}
.st-turn rect.b{fill:var(--turn)}.lv-agent rect.b{fill-opacity:.78}.lv-task rect.b{fill-opacity:.65}.more rect.b{fill:var(--more)}.rt rect.b{fill-opacity:.55}
.ao line.edge{stroke:var(--fg);stroke-dasharray:3 2}.bp line{stroke:var(--bp);stroke-width:2}.bp path{fill:var(--bp)}
.inval rect.h{fill:url(#hatch)}#hatch path{stroke:var(--inval);stroke-width:2}.axis line{stroke:var(--line)}
.seg:hover rect.b,.seg:focus rect.b{stroke:var(--fg);stroke-width:2}.swatch{display:inline-block;width:1em;height:1em;
vertical-align:middle;border:1px solid var(--line)}#details{border:1px solid var(--line);padding:.5rem;min-height:1.5em}
.tl line.g{stroke:var(--line)}.tl polyline{fill:none;stroke:var(--hit);stroke-width:2}.tl circle{fill:var(--hit)}
.tl .iv{fill:var(--inval)}.bad{color:var(--inval)}
"""

#: Interaction only: the page is complete without it.
JS = """
document.querySelectorAll('#map a.seg').forEach(function(a){a.addEventListener('click',function(){
var row=document.getElementById(a.getAttribute('href').slice(1));var d=document.getElementById('details');
if(row&&d){d.textContent='';var c=row.cloneNode(true);c.removeAttribute('id');var t=document.createElement('table');
t.appendChild(document.getElementById('seg-head').cloneNode(true));t.appendChild(c);d.appendChild(t);}});});
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _f(x: float) -> str:
    """Fixed precision for coordinates (deterministic, compact)."""
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _short(h: str | None) -> str:
    return h.split(":", 1)[1][:8] if h else "—"


def _num(value: int | float | None, text: str | None = None) -> str:
    """A numeric cell with its exact value in ``data-v``."""
    if value is None:
        return '<td class="n" data-v="">—</td>'
    return f'<td class="n" data-v="{_e(value)}">{_e(text if text is not None else value)}</td>'


def _money(value: float | None) -> str:
    return _num(value, None if value is None else f"${value:.6f}")


def _stability(n: Node) -> str:
    return n.stability + (" +append" if n.append_only else "")


def _tooltip(n: Node, impact: MapImpact | None) -> str:
    tokens = ", ".join(f"{t}: {v}" for t, v in sorted((n.tokens or {}).items())) or "run time (no build-time count)"
    lines = [f"{n.segment} — {n.level}, {_stability(n)}, {n.kind}, role {n.role}", f"source {n.source}",
             f"tokens {tokens}", f"hash {_short(n.hash)} · prefix {_short(n.prefix_hash)}",
             f"plans ({len(n.plans)}): {', '.join(n.plans)}"]
    if n.breakpoints:
        lines.append(f"cache breakpoint after it ▼: {', '.join(n.breakpoints)}")
    if impact is not None and impact.is_invalidated(n.id):
        lines.append(f"✗ invalidated by the change for: {', '.join(impact.invalidated[n.id])}")
    return "\n".join(lines)


def _box_svg(b: Box, pm: PrefixMap, impact: MapImpact | None, scale: float) -> str:
    x, y = LABEL_W + b.x * scale, TOP + b.lane * LANE_H
    w, h = max(b.w * scale, 2.0), b.lanes * LANE_H
    if b.node is None:
        hit = [p for p in b.folded if impact is not None and p in impact.plans]
        label = f"+{len(b.folded)} more plans (see the plans table)" + (f" ✗ {len(hit)} invalidated" if hit else "")
        title = f"{len(b.folded)} more plans, folded to keep the map readable: {', '.join(b.folded)}" + \
            (f"\n✗ invalidated by the change: {', '.join(hit)}" if hit else "")
        hatch = f'<rect class="h" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h - 2)}"/>' if hit else ""
        return (f'<a class="seg more{" inval" if hit else ""}" href="#plans" data-plans="{_e(" ".join(b.folded))}">'
                f'<title>{_e(title)}</title><rect class="b" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" '
                f'height="{_f(h - 2)}"/>{hatch}<text x="{_f(x + 4)}" y="{_f(y + 18)}">{_e(label)}</text></a>')
    n = b.node
    inval = impact is not None and impact.is_invalidated(n.id)
    cls = ["seg", f"st-{n.stability}", f"lv-{n.level}"] + (["ao"] if n.append_only else []) + (["rt"] if b.runtime else []) + \
          (["inval"] if inval else [])
    tokens = n.tokens_for(pm.target)
    marks = (" ⇢" if n.append_only else "") + (" ✗" if inval else "")
    amount = str(tokens) if tokens is not None else "(run time)"
    # the longest label that fits: name and tokens, else the name, else the tokens
    fits = [t for t in (f"{n.segment} {amount}{marks}", f"{n.segment}{marks}", f"{tokens}{marks}" if tokens else "")
            if t and len(t) * 6.6 + 8 <= max(b.w * scale, 2.0)]
    text = fits[0] if fits else ""
    parts = [f'<a class="{" ".join(cls)}" id="box-{n.id}" href="#row-{n.id}" data-segment="{_e(n.segment)}" '
             f'data-tokens="{"" if tokens is None else tokens}" data-plans="{_e(" ".join(n.plans))}">',
             f"<title>{_e(_tooltip(n, impact))}</title>",
             f'<rect class="b" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h - 2)}"/>']
    if inval:  # hatched from where the re-written tokens start (the whole box for a run-time segment)
        start = b.x if b.runtime else min(max(b.x, impact.hatch_start.get(n.id, b.x)), b.x + b.w)
        hx = LABEL_W + start * scale
        parts.append(f'<rect class="h" x="{_f(hx)}" y="{_f(y)}" width="{_f(max(x + w - hx, 2.0))}" height="{_f(h - 2)}"/>')
    if n.append_only:
        parts.append(f'<line class="edge" x1="{_f(x + w - 1)}" y1="{_f(y)}" x2="{_f(x + w - 1)}" y2="{_f(y + h - 2)}"/>')
    if text:  # no label fits: the tooltip and the table carry it
        parts.append(f'<text x="{_f(x + 4)}" y="{_f(y + min(h, LANE_H) / 2 + 4)}">{_e(text)}</text>')
    parts.append("</a>")
    if n.breakpoints:
        bx = x + w
        parts.append(f'<g class="bp"><title>{_e("cache breakpoint after " + n.segment + ": " + ", ".join(n.breakpoints))}'
                     f'</title><line x1="{_f(bx)}" y1="{_f(y - 3)}" x2="{_f(bx)}" y2="{_f(y + h - 2)}"/>'
                     f'<path d="M{_f(bx - 5)} {_f(y - 8)}h10l-5 6z"/></g>')
    return "".join(parts)


def map_svg(pm: PrefixMap, impact: MapImpact | None = None, lay: Layout | None = None) -> str:
    """The map as one inline ``<svg>``: lanes of plans, boxes of segments, breakpoints, totals."""
    lay = lay or layout(pm)
    scale = CHART_W / lay.width if lay.width else 1.0
    height = TOP + len(lay.lanes) * LANE_H + 8
    width = LABEL_W + CHART_W + TOTAL_W
    out = [f'<svg id="map" role="img" aria-labelledby="map-title" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<title id="map-title">Prefix-sharing map of {len(pm.plans)} plans, widths in {_e(pm.target)} tokens</title>',
           '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><path d="M0 0v8"/></pattern></defs>', '<g class="axis">']
    ticks = 4
    for i in range(ticks + 1):
        tok = lay.width * i / ticks
        tx = LABEL_W + tok * scale
        out.append(f'<line x1="{_f(tx)}" y1="{TOP - 10}" x2="{_f(tx)}" y2="{_f(height - 8)}"/>'
                   f'<text class="lab" x="{_f(tx + 2)}" y="{TOP - 14}">{round(tok)}</text>')
    out.append(f'<text class="lab" x="4" y="{TOP - 14}">plan (lane) · tokens →</text></g>')
    for i, (label, plans) in enumerate(lay.lanes):
        y = TOP + i * LANE_H + 19
        out.append(f'<text class="lane" x="4" y="{y}" data-plans="{_e(" ".join(plans))}">{_e(label[:26])}</text>')
        if len(plans) == 1:
            out.append(f'<text class="total" x="{LABEL_W + CHART_W + 8}" y="{y}" data-plan="{_e(plans[0])}" '
                       f'data-v="{pm.static_tokens(plans[0])}">{pm.static_tokens(plans[0])} tok</text>')
    for b in lay.boxes:
        out.append(_box_svg(b, pm, impact, scale))
    out.append("</svg>")
    return "\n".join(out)


def _legend() -> str:
    items = [("var(--static)", "static: cached across sessions"), ("var(--session)", "session: rendered per session"),
             ("var(--turn)", "turn: rendered per request (nominal width)")]
    # the level (global, agent, task) is a lighter shade of the same colour, and named in every tooltip
    sw = " ".join(f'<span><span class="swatch" style="background:{c}"></span> {_e(t)}</span>' for c, t in items)
    return (f'<p class="legend">{sw}<br>⇢ dashed end: append-only (grows at its end) · lighter shade: agent, then task level · ▼ cache breakpoint after the '
            'segment · ✗ hatched: invalidated by the change · "+K more": plans folded into one lane (all are in the '
            'tables) · hover a box for its details, click it for its row</p>')


def _table(head: list[str], rows: Iterable[str], attrs: str = "") -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table{attrs}><thead><tr>{th}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


def plans_table(pm: PrefixMap) -> str:
    """One row per plan: source, segments, static tokens per target, breakpoints, tokens shared."""
    rows = []
    for name, plan in pm.plans.items():
        path = pm.path(name)
        shared = sum(n.tokens_for(pm.target) or 0 for n in path if len(n.plans) > 1)
        bps = ", ".join(f"{n.segment} ({', '.join(n.breakpoints)})" for n in path if n.breakpoints) or "—"
        cells = [f'<td><a href="#row-{path[-1].id}">{_e(name)}</a></td>', f"<td><code>{_e(plan.source.path)}</code></td>",
                 _num(len(plan.segments))]
        cells += [_num((plan.static_tokens or {}).get(t) if t in {x.name for x in plan.targets} else None)
                  for t in pm.targets]
        cells += [_num(shared), f"<td>{_e(bps)}</td>"]
        rows.append(f'<tr id="plan-{_e(name)}" data-plan="{_e(name)}">{"".join(cells)}</tr>')
    head = ["plan", "source", "segments", *[f"static tokens {t}" for t in pm.targets],
            f"shared tokens ({pm.target})", "breakpoints"]
    return _table(head, rows, ' id="plans-table"')


def segments_table(pm: PrefixMap, impact: MapImpact | None) -> str:
    """One row per node of the map (a segment at one prefix), anchored ``row-<node id>``."""
    head = ["node", "segment", "level", "stability", "kind", "role", "source", "hash", "prefix",
            *[f"tokens {t}" for t in pm.targets], "bp", "plans (shared by)"]
    if impact is not None:
        head.append("change")
    rows = []
    for n in pm.nodes():
        cells = [f"<td>{n.id}</td>", f"<td><b>{_e(n.segment)}</b></td>", f"<td>{n.level}</td>",
                 f"<td>{_e(_stability(n))}</td>", f"<td>{n.kind}</td>",
                 f"<td>{'per entry' if n.kind == 'history' else n.role}</td>", f"<td><code>{_e(n.source)}</code></td>",
                 f'<td title="{_e(n.hash or "")}"><code>{_short(n.hash)}</code></td>',
                 f'<td title="{_e(n.prefix_hash or "")}"><code>{_short(n.prefix_hash)}</code></td>']
        cells += [_num(n.tokens_for(t)) for t in pm.targets]
        cells += [f"<td>{_e(', '.join(n.breakpoints))}</td>", f"<td>{_e(', '.join(n.plans))}</td>"]
        if impact is not None:
            inv = impact.invalidated.get(n.id)
            cells.append(f'<td class="bad">✗ invalidated ({_e(", ".join(inv))})</td>' if inv else "<td></td>")
        rows.append(f'<tr id="row-{n.id}" data-segment="{_e(n.segment)}" data-plans="{_e(" ".join(n.plans))}">'
                    f'{"".join(cells)}</tr>')
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    table = (f'<table id="segments-table"><thead id="seg-head"><tr>{th}</tr></thead><tbody>\n' + "\n".join(rows) +
             "\n</tbody></table>")
    if len(rows) > FOLD_ROWS:
        return f"<details><summary>{len(rows)} segment nodes (click to open)</summary>{table}</details>"
    return table


def impact_section(pm: PrefixMap, impact: MapImpact) -> str:
    """The change's impact: lint's summary, the per-plan rows and every finding linked to its segment."""
    r = impact.report
    s = r.summary
    head = (f"<p>Against <code>{_e(r.baseline)}</code> ({r.baseline_kind}): <b>{s.errors}</b> error(s), "
            f"<b>{s.warnings}</b> warning(s), {s.infos} info, {s.suppressed} suppressed. Next request of every "
            f'plan: <b class="cost" data-v="{s.cost_per_request}">${s.cost_per_request:.6f}</b> extra'
            + (f', <span data-v="{s.cost_daily}">${s.cost_daily:.6f}</span> a day' if s.cost_daily is not None else "")
            + ".</p>")
    targets = sorted({t for p in s.plans for t in p.tokens})
    rows = []
    for p in s.plans:
        n = pm.node_of(p.plan, p.from_segment)
        seg = f'<a href="#row-{n.id}">{_e(p.from_segment)}</a>' if n else _e(p.from_segment)
        cells = [f"<td>{_e(p.plan)}</td>", f"<td>{seg}</td>", *[_num(p.tokens.get(t)) for t in targets],
                 _money(p.cost_per_request), _money(p.cost_daily), f"<td>{'yes' if p.suppressed else ''}</td>"]
        rows.append(f'<tr data-plan="{_e(p.plan)}">{"".join(cells)}</tr>')
    plan_table = _table(["plan", "invalidated from", *[f"tokens {t}" for t in targets], "cost / request",
                         "cost / day", "suppressed"], rows, ' id="impact-table"') if rows else \
        "<p>No plan loses a cached prefix.</p>"
    frows = []
    for f, node in impact.finding_nodes:
        loc = f"{f.location.path}:{f.location.line}:{f.location.col}" if f.location else ""
        seg = f'<a href="#row-{node}">{_e(f.segment)}</a>' if node else _e(f.segment or "")
        frows.append(f'<tr data-code="{f.code}"><td><b>{f.code}</b> {_e(f.name)}</td><td>{f.severity}</td>'
                     f"<td>{_e(f.message)}</td><td><code>{_e(loc)}</code></td><td>{seg}</td>"
                     f"<td>{_e(', '.join(f.plans))}</td><td>{_e(f.suppressed.reason if f.suppressed else '')}</td></tr>")
    findings = _table(["code", "severity", "message", "location", "segment", "plans", "suppressed"], frows,
                      ' id="findings-table"') if frows else "<p>No findings.</p>"
    return f'<section id="impact"><h2>Change impact</h2>{head}{plan_table}<h3>Findings</h3>{findings}</section>'


def _timeline(name: str, points: list, run: RunView) -> str:
    # x is the request's position in the trace (a shared axis for every plan; times are in the tooltips)
    w, h, pad, left, right = 560, 90, 24, 40, 110
    n_all = max(sum(len(v) for v in run.series.values()), 2)
    xs = [left + (p.index - 1) / (n_all - 1) * (w - left - right) for p in points]
    coords = [(x, h - pad - (p.hit_rate or 0.0) * (h - 2 * pad)) for x, p in zip(xs, points)]
    out = [f'<svg class="tl" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
           f"<title>{_e('hit rate per request of ' + name)}</title>",
           f'<line class="g" x1="{left}" y1="{h - pad}" x2="{w - right}" y2="{h - pad}"/>'
           f'<line class="g" x1="{left}" y1="{pad}" x2="{w - right}" y2="{pad}"/>'
           f'<text class="lab" x="0" y="{pad + 4}">100%</text><text class="lab" x="0" y="{h - pad + 4}">0%</text>'
           f'<text class="lab" x="{w - right + 6}" y="{h - pad + 4}">request # →</text>']
    if len(coords) > 1:
        out.append('<polyline points="' + " ".join(f"{_f(x)},{_f(y)}" for x, y in coords) + '"/>')
    for (x, y), p in zip(coords, points):
        hr = "—" if p.hit_rate is None else f"{p.hit_rate:.1%}"
        tip = f"request {p.index} at +{p.ts - run.start:.0f}s: {p.status}, hit rate {hr}, read {p.read}, " \
              f"write {p.write}, uncached {p.uncached}"
        if p.invalidation:
            tip += f"; invalidated: {p.invalidation.get('reason')} ({p.invalidation.get('detail')})"
            out.append(f'<g><title>{_e(tip)}</title><path class="iv" d="M{_f(x - 5)} {_f(h - 6)}h10l-5 -8z"/>'
                       f'<text class="lab" x="{_f(x + 6)}" y="{h - 2}">✗ {_e(p.invalidation.get("reason"))}</text></g>')
        out.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3"><title>{_e(tip)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def runtime_section(pm: PrefixMap, run: RunView) -> str:
    """What the trace says: the numbers of ``promptc trace stats``, timelines, invalidations, events."""
    rows = []
    for name, p in run.stats["plans"].items():
        hr = None if p["hit_rate"] is None else f"{p['hit_rate']:.1%}"
        rows.append(f'<tr data-key="{_e(name)}"><td>{_e(name)}</td>{_num(p["requests"])}{_num(p["errors"])}'
                    f'{_num(p["hit_rate"], hr)}{_num(p["cache_read"])}{_num(p["cache_write"])}{_num(p["uncached"])}'
                    f'{_num(p["output"])}{_money(p["cost"])}{_num(p["invalidations"])}</tr>')
    stats = _table(["plan @ target", "requests", "errors", "hit rate", "read", "write", "uncached", "output", "cost",
                    "invalidations"], rows, ' id="trace-plans"')
    tl = "".join(f"<h4>{_e(name)}</h4>{_timeline(name, pts, run)}" for name, pts in run.series.items())
    inv_rows = []
    for name, pts in run.series.items():
        plan = name.split(" @ ")[0]
        for p in pts:
            if p.invalidation:
                seg = p.invalidation.get("segment")
                n = pm.node_of(plan, seg) if seg and plan in pm.plans else None
                link = f'<a href="#row-{n.id}">{_e(seg)}</a>' if n else _e(seg or "")
                inv_rows.append((p.index, f'<tr><td class="n">{p.index}</td><td class="n">+{p.ts - run.start:.0f}s</td>'
                                 f"<td>{_e(name)}</td><td>{_e(p.invalidation.get('reason'))}</td><td>{link}</td>"
                                 f"<td>{_e(p.invalidation.get('detail') or '')}</td></tr>"))
    invs = _table(["request", "time", "plan @ target", "reason", "segment", "detail"],
                  [r for _, r in sorted(inv_rows)], ' id="trace-invalidations"') if inv_rows else \
        "<p>No invalidations.</p>"
    seg_rows = [f'<tr data-key="{_e(k)}"><td>{_e(k)}</td>{_num(v["requests"])}{_num(v["invalidations"])}'
                f'{_money(run.segment_cost.get(k, 0.0))}</tr>' for k, v in run.stats["segments"].items()]
    segs = _table(["plan:segment", "requests", "invalidations", "cost of the requests it invalidated"], seg_rows,
                  ' id="trace-segments"')
    ev_rows = []
    for e in run.events:
        rest = ", ".join(f"{k}={e[k]}" for k in sorted(e) if k not in ("ts", "event"))
        ev_rows.append(f'<tr data-event="{_e(e["event"])}"><td class="n">+{float(e.get("ts") or 0) - run.start:.0f}s'
                       f"</td><td>{_e(e['event'])}</td><td>{_e(rest)}</td></tr>")
    events = _table(["time", "event", "details"], ev_rows, ' id="trace-events"') if ev_rows else \
        "<p>No cache-object events (create, refresh, delete, keepwarm) in this trace.</p>"
    n_req = sum(len(v) for v in run.series.values())
    return (f'<section id="runtime"><h2>Run time</h2><p>Trace <code>{_e(run.path)}</code>: {n_req} request(s), '
            f"{len(run.events)} cache-object event(s), over {run.end - run.start:.0f}s.</p>{stats}"
            f"<h3>Hit rate over time</h3>{tl}<h3>Invalidations</h3>{invs}<h3>Per segment</h3>{segs}"
            f"<h3>Cache objects</h3>{events}</section>")


def _csp() -> str:
    """The page's Content-Security-Policy: nothing loads from anywhere, and the one script that runs
    is the page's own inline script, by hash — so markup that slipped past escaping could neither
    run a script nor send anything out. Inline styles stay allowed (the legend's swatches)."""
    digest = base64.b64encode(hashlib.sha256(JS.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


CSP = _csp()


def render_html(pm: PrefixMap, impact: MapImpact | None = None, run: RunView | None = None,
                title: str = "promptc cache report") -> str:
    """The whole page for ``pm`` (with the change's ``impact`` and the trace's ``run`` when given)."""
    lay = layout(pm)
    total = sum(pm.static_tokens(p) for p in pm.plans)
    unique = sum(n.tokens_for(pm.target) or 0 for n in pm.nodes())
    summary = (f'<p id="summary">{len(pm.plans)} plans, {len(pm.nodes())} segment nodes; widths in '
               f'<b>{_e(pm.target)}</b> tokens. Static prefixes: <b data-v="{total}">{total}</b> tokens over all '
               f'plans, <b data-v="{unique}">{unique}</b> distinct (cached once): sharing saves '
               f'<b data-v="{total - unique}">{total - unique}</b> tokens of cache writes per round of all plans.</p>')
    sections = [f'<h1>{_e(title)}</h1>', summary, '<h2 id="map-h">Prefix-sharing map</h2>', _legend(),
                map_svg(pm, impact, lay), '<div id="details" aria-live="polite" class="muted">Click a segment to see '
                'its details here.</div>']
    if impact is not None:
        sections.append(impact_section(pm, impact))
    if run is not None:
        sections.append(runtime_section(pm, run))
    sections += ['<h2 id="plans">Plans</h2>', plans_table(pm), '<h2 id="segments">Segments</h2>',
                 '<p class="muted">One row per segment at one prefix: plans in the last column share the cached '
                 "prefix through it.</p>", segments_table(pm, impact)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"color-scheme\" content=\"light dark\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(sections) +
            f"\n<script>{JS}</script>\n</body></html>\n")
