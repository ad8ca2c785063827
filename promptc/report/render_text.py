"""``promptc show --tree``: the map in the terminal, the same tree as the HTML report.

One line per node (a segment at one prefix), indented under the segment it follows::

    rules          global static          179 ████▌       3 plans  shared.prompt:6:1
    └─ repo_tools  global static+append ⇢ 199 ████▉       3 plans  ▼ anthropic/claude-sonnet-5

The bar is the node's tokens for the chosen target, scaled to the longest static prefix; a plan's
leaf line names the plan and its static prefix total (the number ``promptc show`` prints). Lines
fit ``width`` columns: the bar shrinks first, then the source and the breakpoint list are cut.
"""

from __future__ import annotations

from promptc.report.model import Node, PrefixMap

#: The narrowest width the tree is laid out for.
MIN_WIDTH = 40
BLOCKS = " ▏▎▍▌▋▊▉█"


def _bar(tokens: int | None, total: int, cols: int) -> str:
    if cols <= 0:
        return ""
    if tokens is None:
        return "┄" * min(3, cols) + " " * (cols - min(3, cols))
    eighths = round(tokens / total * cols * 8) if total else 0
    eighths = max(eighths, 1 if tokens else 0)
    full, part = divmod(min(eighths, cols * 8), 8)
    s = "█" * full + (BLOCKS[part] if part else "")
    return s + " " * (cols - len(s))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def render_tree(pm: PrefixMap, width: int = 100) -> str:
    """The tree of ``pm`` as text lines no wider than ``width`` (at least :data:`MIN_WIDTH`)."""
    width = max(width, MIN_WIDTH)
    rows: list[tuple[str, Node, list[str], str]] = []  # (tree prefix + name, node, plans ending here, indent below)

    def visit(nodes: list[Node], prefix: str, top: bool) -> None:
        for i, n in enumerate(nodes):
            last = i == len(nodes) - 1
            branch = "" if top else ("└─ " if last else "├─ ")
            ending = [p for p in n.plans if not any(p in c.plans for c in n.children)]
            below = prefix + ("" if top else ("   " if last else "│  "))
            rows.append((prefix + branch + n.segment, n, ending, below))
            visit(n.children, below, False)

    visit(pm.roots, "", True)
    total = pm.total_width()
    name_w = min(max((len(r[0]) for r in rows), default=8), width // 3)
    kind_w = max((len(_kind(n)) for _, n, _, _ in rows), default=6)
    tok_w = max([len(str(n.tokens_for(pm.target))) for _, n, _, _ in rows if n.tokens_for(pm.target) is not None] + [3])
    fixed = name_w + 1 + kind_w + 1 + tok_w + 1
    bar_w = max(0, min(24, width - fixed - 36))  # the bar gives way to the plan count and the source
    lines = [_cut(f"cache map: {len(pm.plans)} plan(s); tokens and bars for {pm.target} "
                  f"(a full bar is {total} tokens)", width),
             _cut("▼ cache breakpoint after the segment · ⇢ append-only · ┄ rendered at run time", width)]
    for label, n, ending, below in rows:
        t = n.tokens_for(pm.target)
        tok = "—" if t is None else str(t)
        head = f"{_cut(label, name_w):<{name_w}} {_kind(n):<{kind_w}} {tok:>{tok_w}} {_bar(t, total, bar_w)}"
        tail = [f"{len(n.plans)} plan{'s' if len(n.plans) != 1 else ''}", n.source]
        if n.breakpoints:
            tail.insert(1, "▼ " + ", ".join(n.breakpoints))
        lines.append(_cut((head + " " + "  ".join(tail)).rstrip(), width))
        for p in ending:
            lines.append(_cut(f"{below}   = plan {p}: static prefix {pm.static_tokens(p)} tokens", width))
    return "\n".join(lines) + "\n"


def _kind(n: Node) -> str:
    return f"{n.level} {n.stability}" + (" ⇢" if n.append_only else "")
