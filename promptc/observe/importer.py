"""``promptc import TRACE --out DIR``: a starter ``.prompt`` project from observed traffic.

Input: a trace written by ``promptc observe --record-bodies`` (or ``instrument(..., observer=
Observer(record_bodies=True))``): each record's ``observe.segment_detail`` holds the segment texts.
Per agent (the record's ``plan`` label), in wire order:

- the tool list becomes an append-only ``tools`` segment (tools first seen later are appended);
  a tool whose schema the language cannot express is kept as a comment and reported;
- a system block identical in every request becomes a ``@static`` segment — ``global`` in
  ``shared.prompt`` when another agent sends the same bytes (detected by hash), else ``agent``;
- a system block that differs only in volatile values (a date, a time, a uuid, a counter) becomes a
  template whose values are inputs, flagged with a W560 finding: the values break the cached prefix
  at that point, and the fix is to move them after it. Other changing blocks become turn inputs;
- the messages before the last one become an append-only ``history``; the last one the turn input.

Segments are ordered static → session → turn (the compiler's stability order), so a volatile block
observed before static ones moves after them: that move *is* the fix, and the finding says so.
The project's static bytes equal the observed bytes exactly, and rendering it with the observed
inputs (``inputs.json``, one entry per observed request) reproduces every text segment's bytes.
Nothing is overwritten: an existing file in ``DIR`` is an E970 error before anything is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptc.core.errors import PromptcError
from promptc.observe.explain import VOLATILE

#: Most records read from one trace, and most distinct agents imported.
MAX_RECORDS = 100_000
MAX_AGENTS = 64


class ImportTraceError(PromptcError):
    """The trace has nothing to import (no records with recorded bodies)."""

    code = "E561"


class ImportOutputExists(PromptcError):
    """``promptc import`` would overwrite a file (E970, the code every project-writing command uses)."""

    code = "E970"


@dataclass(frozen=True)
class Finding:
    """A W560 (volatile value inside a stable block) or W561 (tool not expressible) finding."""

    code: str
    path: str
    line: int
    message: str
    hint: str

    def render(self) -> str:
        return f"{self.path}:{self.line}:1: {self.code} {self.message}\n   = hint: {self.hint}"


@dataclass
class ImportResult:
    """What was written: file paths, the plans, the findings and each plan's observed inputs."""

    files: list[Path] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    inputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _name(text: str, fallback: str) -> str:
    n = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_").lower()
    if not n or not (n[0].isalpha() or n[0] == "_"):
        n = f"{fallback}_{n}" if n else fallback
    return n[:48]


def _jinja_literal(text: str) -> str:
    """``text`` as template source that renders to exactly ``text``: ``{`` before ``{``, ``%`` or ``#``
    is emitted through an expression so Jinja never starts a tag there."""
    return re.sub(r"\{(?=[{%#])", '{{ "{" }}', text)


def _string(template: str) -> str:
    """A template as a one-line JSON-escaped ``.prompt`` string (byte-exact, no dedent applies)."""
    return json.dumps(template, ensure_ascii=False)


def _skeleton(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(literal pieces, [(kind, value)] holes) of ``text`` split at volatile values."""
    spans: list[tuple[int, int, str]] = []
    for kind, rx in VOLATILE:
        for m in rx.finditer(text):
            if not any(a < m.end() and m.start() < b for a, b, _ in spans):
                spans.append((m.start(), m.end(), kind))
    spans.sort()
    pieces, holes, at = [], [], 0
    for a, b, kind in spans:
        pieces.append(text[at:a])
        holes.append((kind, text[a:b]))
        at = b
    pieces.append(text[at:])
    return pieces, holes


_JSON_TYPES = {"string": "string", "integer": "int", "number": "float", "boolean": "bool"}


def _tool_decl(tool: dict[str, Any]) -> str | None:
    """A tool as the language's declaration, or None when its schema is not expressible."""
    fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
    name = fn.get("name")
    schema = fn.get("input_schema") or fn.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or \
            not isinstance(schema, dict) or schema.get("type") != "object":
        return None
    required = set(schema.get("required") or [])
    params = []
    for pname, p in (schema.get("properties") or {}).items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", pname) or not isinstance(p, dict) or \
                p.get("type") not in _JSON_TYPES:
            return None
        opt = "" if pname in required else "?"
        desc = f" {_string(p['description'])}" if isinstance(p.get("description"), str) else ""
        params.append(f"{pname}: {_JSON_TYPES[p['type']]}{opt}{desc}")
    desc = f" {_string(fn['description'])}" if isinstance(fn.get("description"), str) else ""
    return f"{name}({', '.join(params)}){desc}"


@dataclass
class _Block:
    """One system position of one agent across its requests."""

    texts: list[str]


def _records(trace: list[dict[str, Any]]) -> dict[str, list[list[dict[str, Any]]]]:
    """agent → per request, its segment details (only records with recorded bodies)."""
    out: dict[str, list[list[dict[str, Any]]]] = {}
    for r in trace[:MAX_RECORDS]:
        obs = r.get("observe")
        if r.get("status") != "ok" or not isinstance(obs, dict):
            continue
        detail = obs.get("segment_detail")
        if not isinstance(detail, list) or not detail or not all(isinstance(d, dict) and isinstance(d.get("text"), str)
                                                                  for d in detail):
            continue
        out.setdefault(str(r.get("plan") or "agent"), []).append(detail)
    return out


def import_trace(records: list[dict[str, Any]], out: str | Path) -> ImportResult:
    """Write a starter project for the agents in trace ``records`` into ``out`` (E561, E970)."""
    agents = _records(records)
    if not agents:
        raise ImportTraceError("error[E561]: the trace has no request with recorded bodies to import\n"
                               "   = hint: record the traffic with `promptc observe --record-bodies` "
                               "(bodies are hashed and excerpted otherwise)")
    if len(agents) > MAX_AGENTS:
        raise ImportTraceError(f"error[E561]: the trace names {len(agents)} agents; at most {MAX_AGENTS} are imported")
    out = Path(out)
    names = {a: _name(a, "agent") for a in agents}
    # system blocks by hash → agents that send them unchanged in every request (shared → global)
    constant_by_agent: dict[str, list[str]] = {}
    for a, reqs in agents.items():
        systems = [[d["text"] for d in req if d.get("kind") == "system"] for req in reqs]
        width = min(len(s) for s in systems)
        constant_by_agent[a] = [systems[0][i] for i in range(width) if all(s[i] == systems[0][i] for s in systems)]
    owners: dict[str, set[str]] = {}
    for a, texts in constant_by_agent.items():
        for t in texts:
            owners.setdefault(t, set()).add(a)
    shared = [t for t in dict.fromkeys(t for a in agents for t in constant_by_agent[a]) if len(owners[t]) > 1]
    global_name = {t: f"shared_{i + 1}" for i, t in enumerate(shared)}

    files: dict[str, str] = {}
    result = ImportResult()
    if shared:
        body = ["# Blocks every agent below sends byte for byte: one cached prefix for all of them.", ""]
        for t in shared:
            body.append(f"global {global_name[t]} @static role system {_string(_jinja_literal(t))}")
        files["shared.prompt"] = "\n".join(body) + "\n"
    for a, reqs in agents.items():
        fname = f"{names[a]}.prompt"
        lines = [f"# Imported by `promptc import` from {len(reqs)} observed request(s) of agent `{a}`."]
        if shared:
            lines.append('import "./shared.prompt"')
        lines.append("")
        static: list[str] = []
        later: list[tuple[str, str]] = []  # (stability, segment name) after the static prefix
        obs_inputs: list[dict[str, Any]] = [{} for _ in reqs]
        # tools: the union in first-seen order (append-only)
        tools: dict[str, dict] = {}
        for req in reqs:
            for d in req:
                if d.get("kind") == "tool":
                    try:
                        t = json.loads(d["text"])
                    except ValueError:
                        continue
                    if isinstance(t, dict):
                        tools.setdefault(d["text"], t)
        if tools:
            decls = []
            for text, t in tools.items():
                decl = _tool_decl(t)
                if decl is None:
                    lines.append(f"# not expressible as a declaration, kept as observed: {text[:200]}")
                    result.findings.append(Finding("W561", str(out / fname), len(lines), "a tool schema the language cannot "
                                                   "express was left out", "declare it by hand"))
                else:
                    decls.append(f"    {decl}")
            if decls:
                lines += [f"## The tools `{a}` sent (new tools are appended at the end only).",
                          f"agent {names[a]}_tools @append_only tools {{", *decls, "}", ""]
                static.append(f"{names[a]}_tools")
        systems = [[d["text"] for d in req if d.get("kind") == "system"] for req in reqs]
        width = min(len(s) for s in systems)
        for i in range(width):
            texts = [s[i] for s in systems]
            seg = f"{names[a]}_system_{i + 1}"
            if all(t == texts[0] for t in texts):
                if texts[0] in global_name:
                    static.append(global_name[texts[0]])
                    continue
                lines.append(f"agent {seg} @static role system {_string(_jinja_literal(texts[0]))}")
                lines.append("")
                static.append(seg)
                continue
            skels = [_skeleton(t) for t in texts]
            if all(sk[0] == skels[0][0] and len(sk[1]) == len(skels[0][1]) for sk in skels):
                pieces, holes = skels[0]
                varying = [j for j in range(len(holes)) if any(sk[1][j][1] != holes[j][1] for sk in skels)]
                vnames = {j: f"{seg}_{holes[j][0]}_{n + 1}" for n, j in enumerate(varying)}
                tpl = ""
                for j, piece in enumerate(pieces):
                    tpl += _jinja_literal(piece)
                    if j < len(holes):
                        tpl += "{{ " + vnames[j] + " }}" if j in vnames else _jinja_literal(holes[j][1])
                for k, sk in enumerate(skels):
                    for j in varying:
                        obs_inputs[k][vnames[j]] = sk[1][j][1]
                kinds = ", ".join(sorted({holes[j][0] for j in varying}))
                lines.append(f"## Flagged: this block was stable except for volatile values ({kinds}).")
                lines.append(f"agent {seg} @turn role system {{")
                lines += [f"    input {vnames[j]}: string" for j in varying]
                lines.append(f"    {_string(tpl)}")
                lines.append("}")
                result.findings.append(Finding(
                    "W560", str(out / fname), len(lines) - 2 - len(varying),
                    f"`{seg}` carries volatile values ({kinds}: e.g. {skels[0][1][varying[0]][1]!r} → "
                    f"{skels[-1][1][varying[0]][1]!r}) inside an otherwise stable block; every request re-sent "
                    f"everything after it uncached",
                    "keep the stable text in a @static segment and pass the value in a turn input after the "
                    "cached prefix (this import places the block after the static segments)"))
                lines.append("")
                later.append(("turn", seg))
            else:
                lines += [f"agent {seg} @turn role system {{", f"    input {seg}: string",
                          "    \"{{ " + seg + " }}\"", "}", ""]
                for k, t in enumerate(texts):
                    obs_inputs[k][seg] = t
                later.append(("turn", seg))
        # messages: all but the last are the history, the last is the turn input
        for k, req in enumerate(reqs):
            msgs = [d for d in req if d.get("kind") == "message"]
            hist = [{"role": d["role"], "content": d["text"]} for d in msgs[:-1]]
            obs_inputs[k][f"{names[a]}_history"] = hist
            if msgs:
                obs_inputs[k][f"{names[a]}_message"] = msgs[-1]["text"]
        lines += ["## The conversation so far (append-only: each turn adds to its end).",
                  f"task {names[a]}_history @append_only history", "",
                  "## The new message of each turn.",
                  f"task {names[a]}_turn @turn role user {{", f"    input {names[a]}_message: string",
                  "    \"{{ " + names[a] + "_message }}\"", "}", ""]
        order = static + [n for st, n in later if st == "session"] + [n for st, n in later if st == "turn"] + \
            [f"{names[a]}_history", f"{names[a]}_turn"]
        lines.append(f"plan {names[a]} = {', '.join(order)}")
        files[fname] = "\n".join(lines) + "\n"
        result.plans.append(names[a])
        result.inputs[names[a]] = obs_inputs
    files["inputs.json"] = json.dumps(result.inputs, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    # never overwrite: check every path (and symlinks) before writing anything
    if out.exists() and not out.is_dir():
        raise ImportOutputExists(f"error[E970]: {out} exists and is not a directory")
    clash = [n for n in files if (out / n).exists() or (out / n).is_symlink()]
    if clash:
        raise ImportOutputExists(f"error[E970]: {out / clash[0]} already exists; `promptc import` never overwrites "
                                 f"files\n   = hint: pass an empty --out directory")
    out.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        p = out / n
        with open(p, "x", encoding="utf-8", newline="\n") as f:  # "x": fails rather than overwrite a racing file
            f.write(text)
        result.files.append(p)
    return result
