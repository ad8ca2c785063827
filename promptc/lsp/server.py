"""``promptc lsp``: the language server (pygls, stdio). Thin: each handler converts positions and calls
:mod:`promptc.lsp.analysis` / :mod:`promptc.lsp.actions` / :mod:`promptc.fmt`.

Features: diagnostics on open/change/save (change: the file and its dependents; open/save: the whole
project; save also runs ``promptc lint`` against the git baseline and shows each finding with its
cost), quick fixes, hover, inlay hints, definition, references, rename, document and workspace
symbols, completion, formatting, and two commands: ``promptc.renderPreview`` (a plan's rendered
request for sample inputs) and ``promptc.explain`` (a code's explanation). Positions are converted
between LSP's UTF-16 columns and promptc's character columns with pygls' position codec.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from promptc.compiler.context import BuildContext
from promptc.core.errors import Diagnostic, PromptcError, Span
from promptc.core.version import __version__
from promptc.fmt import format_source
from promptc.lsp import actions
from promptc.lsp.analysis import (ProjectState, completions_for, input_hover, project_root_for, related,
                                  render_preview, segment_hover)

log = logging.getLogger(__name__)

_DOCS = Path(__file__).resolve().parents[2] / "docs"


class PromptcServer(LanguageServer):
    """The server's state: one :class:`ProjectState` per project root, one shared build context."""

    def __init__(self) -> None:
        super().__init__("promptc", __version__)
        self.context = BuildContext()
        self.projects: dict[Path, ProjectState] = {}
        #: display path per project → lint findings as (diagnostic, cost text) from the last save
        self.lint: dict[tuple[Path, str], list[Diagnostic]] = {}

    def state_for(self, uri: str) -> tuple[ProjectState, Path]:
        path = Path(to_fs_path(uri)).resolve()
        root = project_root_for(path)
        key = root if root is not None else path
        state = self.projects.get(key)
        if state is None:
            state = self.projects[key] = (ProjectState(root, self.context) if root is not None else
                                          ProjectState(path.parent, self.context, files=[path]))
        return state, path


server = PromptcServer()


# -- conversions ------------------------------------------------------------------------------------

def _range(span: Span) -> lsp.Range:
    end_line = span.end_line or span.line
    end_col = span.end_col or span.col + 1
    return lsp.Range(lsp.Position(max(0, span.line - 1), max(0, span.col - 1)),
                     lsp.Position(max(0, end_line - 1), max(0, end_col - 1)))


def _to_utf16(state: ProjectState, path: Path, r: lsp.Range) -> lsp.Range:
    lines = (state.text_of(path) or "").split("\n")
    return server.workspace.position_codec.range_to_client_units(lines, r)


def _position(state: ProjectState, path: Path, pos: lsp.Position) -> tuple[int, int]:
    lines = (state.text_of(path) or "").split("\n")
    p = server.workspace.position_codec.position_from_client_units(lines, pos)
    return p.line + 1, p.character + 1


def _href(code: str) -> str | None:
    page = {"E9": "lint.md", "W9": "lint.md"}.get(code[:2], "language.md")
    from promptc.core.codes import lookup

    entry = lookup(code)
    if entry is None or not (_DOCS / page).is_file():
        return None
    return from_fs_path(str(_DOCS / page)) + f"#{code.lower()}-{entry.name}"


def _lsp_diagnostic(state: ProjectState, path: Path, d: Diagnostic, source: str = "promptc") -> lsp.Diagnostic:
    rel = []
    for display, line, col, note in related(d):
        target = state.path_of(display)
        rel.append(lsp.DiagnosticRelatedInformation(
            lsp.Location(from_fs_path(str(target)), _to_utf16(state, target, _range(Span(display, line, col)))), note))
    href = _href(d.code)
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    notes = [n for n in d.notes if not related(Diagnostic(d.code, "", notes=(n,)))]
    if notes:
        message += "".join(f"\nnote: {n}" for n in notes)
    return lsp.Diagnostic(
        range=_to_utf16(state, path, _range(d.span)), message=message, source=source, code=d.code,
        code_description=lsp.CodeDescription(href) if href else None,
        severity=lsp.DiagnosticSeverity.Error if d.is_error else (
            lsp.DiagnosticSeverity.Information if d.severity == "info" else lsp.DiagnosticSeverity.Warning),
        related_information=rel or None, data={"explain": f"promptc explain {d.code}"})


def _publish(state: ProjectState, found: dict[str, list[Diagnostic]]) -> None:
    for display in sorted(found):
        path = state.path_of(display)
        if display.startswith("std/"):
            continue
        diags = [_lsp_diagnostic(state, path, d) for d in found[display] if d.span is not None]
        diags += [_lsp_diagnostic(state, path, d, "promptc lint") for d in server.lint.get((state.root, display), [])]
        server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=from_fs_path(str(path)),
                                                                              diagnostics=diags))


def _check(uri: str, incremental: bool) -> None:
    state, path = server.state_for(uri)
    try:
        found = state.check(path if incremental else None)
    except Exception:  # noqa: BLE001 - a compiler bug must not take the editor's server down; it is logged
        log.exception("check failed")
        return
    found.setdefault(state.display_of(path), [])
    _publish(state, found)


def _lint(uri: str) -> None:
    """``promptc lint`` against the git baseline: findings with their cost, on the files they point at."""
    from promptc.lint.run import lint

    state, _ = server.state_for(uri)
    try:
        report = lint(state.scope, None, display_root=state.root)
    except PromptcError as exc:  # no git repository, no baseline: lint has nothing to say in the editor
        log.info("lint: %s", exc)
        return
    except Exception:  # noqa: BLE001 - a lint bug must not take the editor's server down; it is logged
        log.exception("lint failed")
        return
    for key in [k for k in server.lint if k[0] == state.root]:
        del server.lint[key]
    for f in report.findings:
        if f.location is None or f.location.side != "new" or f.suppressed is not None:
            continue
        cost = sum(t.cost.per_request for imp in f.impact for t in imp.targets if t.cost is not None)
        lost = sum(t.tokens for imp in f.impact for t in imp.targets)
        extra = f" — costs ${cost:.4f} per request ({lost} tokens re-written)" if f.impact else ""
        span = Span(f.location.path, f.location.line, f.location.col, f.location.end_line, f.location.end_col)
        d = Diagnostic(f.code, f.message + extra, span, f.hint,
                       severity=f.severity if f.severity in ("error", "warning") else "info")
        server.lint.setdefault((state.root, f.location.path), []).append(d)
    _publish(state, dict(state.diagnostics))


# -- documents --------------------------------------------------------------------------------------

@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: PromptcServer, params: lsp.DidOpenTextDocumentParams) -> None:
    state, path = ls.state_for(params.text_document.uri)
    state.set_text(path, params.text_document.text)
    _check(params.text_document.uri, incremental=False)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: PromptcServer, params: lsp.DidChangeTextDocumentParams) -> None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    state, path = ls.state_for(params.text_document.uri)
    state.set_text(path, doc.source)
    _check(params.text_document.uri, incremental=True)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: PromptcServer, params: lsp.DidSaveTextDocumentParams) -> None:
    _check(params.text_document.uri, incremental=False)
    _lint(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: PromptcServer, params: lsp.DidCloseTextDocumentParams) -> None:
    state, path = ls.state_for(params.text_document.uri)
    state.close(path)


# -- navigation -------------------------------------------------------------------------------------

def _located(params):
    state, path = server.state_for(params.text_document.uri)
    line, col = _position(state, path, params.position)
    return state, path, state.locate(path, line, col)


def _location(state: ProjectState, path: Path, span: Span) -> lsp.Location:
    return lsp.Location(from_fs_path(str(path)), _to_utf16(state, path, _range(span)))


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: PromptcServer, params: lsp.DefinitionParams):
    state, _, loc = _located(params)
    if loc is None:
        return None
    found = state.definition(loc)
    return _location(state, *found) if found else None


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def references(ls: PromptcServer, params: lsp.ReferenceParams):
    state, _, loc = _located(params)
    if loc is None:
        return None
    refs = state.references(loc)
    if not params.context.include_declaration:
        refs = refs[1:]
    return [_location(state, p, s) for p, s in refs]


@server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
def prepare_rename(ls: PromptcServer, params: lsp.PrepareRenameParams):
    state, path, loc = _located(params)
    if loc is None or loc.kind not in ("segment", "input", "namespace") or state.definition(loc) is None:
        return None
    dpath, dspan = state.definition(loc)
    if state.display_of(dpath).startswith("std/"):
        return None  # the standard library is not the user's to rename
    span = loc.span
    if loc.kind == "segment" and len(span.path) and span.end_col - span.col > len(loc.name):
        span = Span(span.path, span.end_line or span.line, span.end_col - len(loc.name), span.end_line or span.line,
                    span.end_col)
    return _to_utf16(state, path, _range(span))


@server.feature(lsp.TEXT_DOCUMENT_RENAME)
def rename(ls: PromptcServer, params: lsp.RenameParams):
    import re

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", params.new_name):
        raise ValueError(f"`{params.new_name}` is not a name (letters, digits and _, not starting with a digit)")
    state, _, loc = _located(params)
    if loc is None or loc.kind not in ("segment", "input", "namespace"):
        return None
    changes: dict[str, list[lsp.TextEdit]] = {}
    for p, s in state.references(loc):
        if state.display_of(p).startswith("std/"):
            return None
        changes.setdefault(from_fs_path(str(p)), []).append(
            lsp.TextEdit(_to_utf16(state, p, _range(s)), params.new_name))
    return lsp.WorkspaceEdit(changes=changes)


# -- symbols ----------------------------------------------------------------------------------------

def _symbols(state: ProjectState, path: Path) -> list[lsp.DocumentSymbol]:
    info = state.module(path)
    if info is None:
        return []
    out = []
    for seg in info.module.segments:
        children = [lsp.DocumentSymbol(d.name, lsp.SymbolKind.Variable, _to_utf16(state, path, _range(d.span)),
                                       _to_utf16(state, path, _range(state.input_name_span(info, d))),
                                       detail=f"input ({d.stability or seg.stability})") for d in seg.inputs]
        out.append(lsp.DocumentSymbol(seg.name, lsp.SymbolKind.Class, _to_utf16(state, path, _range(seg.span)),
                                      _to_utf16(state, path, _range(seg.name_span)),
                                      detail=f"{seg.level} @{seg.stability} {seg.kind}", children=children or None))
    for d in info.module.inputs:
        out.append(lsp.DocumentSymbol(d.name, lsp.SymbolKind.Variable, _to_utf16(state, path, _range(d.span)),
                                      _to_utf16(state, path, _range(state.input_name_span(info, d))),
                                      detail=f"input ({d.stability or 'session'})"))
    for plan in info.module.plans:
        out.append(lsp.DocumentSymbol(plan.name, lsp.SymbolKind.Module, _to_utf16(state, path, _range(plan.span)),
                                      _to_utf16(state, path, _range(plan.name_span)), detail="plan"))
    for imp in info.module.imports:
        out.append(lsp.DocumentSymbol(imp.path, lsp.SymbolKind.Package, _to_utf16(state, path, _range(imp.span)),
                                      _to_utf16(state, path, _range(imp.span)), detail="import"))
    return sorted(out, key=lambda s: (s.range.start.line, s.range.start.character))


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(ls: PromptcServer, params: lsp.DocumentSymbolParams):
    state, path = ls.state_for(params.text_document.uri)
    return _symbols(state, path)


@server.feature(lsp.WORKSPACE_SYMBOL)
def workspace_symbols(ls: PromptcServer, params: lsp.WorkspaceSymbolParams):
    out = []
    query = params.query.lower()
    for state in ls.projects.values():
        for info in state.project.modules.values():
            if info.display.startswith("std/"):
                continue
            uri = from_fs_path(str(info.file))
            items = [(s.name, lsp.SymbolKind.Class, s.name_span) for s in info.module.segments]
            items += [(p.name, lsp.SymbolKind.Module, p.name_span) for p in info.module.plans]
            items += [(d.name, lsp.SymbolKind.Variable, state.input_name_span(info, d)) for d in info.module.inputs]
            for name, kind, span in items:
                if query in name.lower():
                    out.append(lsp.SymbolInformation(
                        name=name, kind=kind, container_name=info.display,
                        location=lsp.Location(uri, _to_utf16(state, info.file, _range(span)))))
    return out


# -- hover, inlay hints, completion -----------------------------------------------------------------

@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: PromptcServer, params: lsp.HoverParams):
    state, path, loc = _located(params)
    if loc is None:
        return None
    if loc.kind == "segment" and loc.segment is not None:
        text = segment_hover(state, loc.segment_module, loc.segment)
    elif loc.kind == "input" and loc.input is not None:
        text = input_hover(state, loc)
    elif loc.kind == "plan" and loc.plan is not None and loc.plan.name in state.plans:
        plan = state.plans[loc.plan.name]
        text = f"**plan {plan.name}**: {len(plan.segments)} segments, targets " + \
               ", ".join(t.name for t in plan.targets) + \
               ("\n\nstatic prefix tokens: " + ", ".join(f"{t} {n}" for t, n in sorted(plan.static_tokens.items()))
                if plan.static_tokens else "")
    else:
        text = f"`{loc.name}` → {loc.target}" if loc.target else f"`{loc.name}`"
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), _to_utf16(state, path, _range(loc.span)))


def _tokens_label(tokens: dict[str, int] | None) -> str:
    if not tokens:
        return ""
    if len(tokens) == 1:
        return str(next(iter(tokens.values())))
    return " · ".join(f"{t.split('/')[-1]} {n}" for t, n in sorted(tokens.items()))


@server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
def inlay_hints(ls: PromptcServer, params: lsp.InlayHintParams):
    """After each plan entry: the cumulative prefix tokens per target and ▮ where a breakpoint falls;
    after each segment name: its own tokens per target (from the first plan that holds it)."""
    state, path = ls.state_for(params.text_document.uri)
    info = state.module(path)
    if info is None:
        return []
    hints = []
    first, last = params.range.start.line + 1, params.range.end.line + 1
    for plan_decl in info.module.plans:
        plan = state.plans.get(plan_decl.name)
        if plan is None or len(plan.segments) != len(plan_decl.refs):
            continue
        for ref, seg in zip(plan_decl.refs, plan.segments):
            line = ref.span.end_line or ref.span.line
            if not first <= line <= last:
                continue
            label = f"Σ{_tokens_label(seg.prefix_tokens)}" if seg.prefix_tokens else ""
            if seg.breakpoint:
                label += f" ▮ breakpoint {', '.join(seg.breakpoint)}"
            if label:
                pos = _to_utf16(state, path, _range(Span(ref.span.path, line, ref.span.end_col))).start
                hints.append(lsp.InlayHint(pos, label.strip(), padding_left=True,
                                           tooltip=f"cacheable prefix tokens through `{seg.id}` in plan `{plan.name}`"))
    for seg_decl in info.module.segments:
        line = seg_decl.name_span.line
        if not first <= line <= last:
            continue
        held = state.plan_segments(info, seg_decl)
        if held and held[0][0].segments[held[0][1]].tokens:
            tokens = held[0][0].segments[held[0][1]].tokens
            pos = _to_utf16(state, path, _range(Span(info.display, line, seg_decl.name_span.end_col))).start
            hints.append(lsp.InlayHint(pos, f"{_tokens_label(tokens)} tok", padding_left=True))
    return hints


_KINDS = {"annotation": lsp.CompletionItemKind.Keyword, "role": lsp.CompletionItemKind.EnumMember,
          "module": lsp.CompletionItemKind.Module, "filter": lsp.CompletionItemKind.Function,
          "input": lsp.CompletionItemKind.Variable, "segment": lsp.CompletionItemKind.Class,
          "keyword": lsp.CompletionItemKind.Keyword}


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["@", '"', "|", ","]))
def completion(ls: PromptcServer, params: lsp.CompletionParams):
    state, path = ls.state_for(params.text_document.uri)
    line, col = _position(state, path, params.position)
    items = [lsp.CompletionItem(label, kind=_KINDS.get(kind), detail=detail)
             for label, kind, detail in completions_for(state, path, line, col)]
    return lsp.CompletionList(is_incomplete=False, items=items)


# -- edits ------------------------------------------------------------------------------------------

@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: PromptcServer, params: lsp.DocumentFormattingParams):
    doc = ls.workspace.get_text_document(params.text_document.uri)
    result = format_source(doc.source, doc.path)
    if result.text is None or result.text == doc.source:
        return []
    lines = doc.source.split("\n")
    end = lsp.Position(len(lines), 0)
    return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), result.text)]


def _workspace_edit(state: ProjectState, edits) -> lsp.WorkspaceEdit:
    changes: dict[str, list[lsp.TextEdit]] = {}
    for e in edits:
        r = _to_utf16(state, e.path, lsp.Range(lsp.Position(e.line - 1, e.col - 1),
                                               lsp.Position(e.end_line - 1, e.end_col - 1)))
        changes.setdefault(from_fs_path(str(e.path)), []).append(lsp.TextEdit(r, e.new_text))
    return lsp.WorkspaceEdit(changes=changes)


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
def code_actions(ls: PromptcServer, params: lsp.CodeActionParams):
    state, path = ls.state_for(params.text_document.uri)
    display = state.display_of(path)
    out = []
    first, last = params.range.start.line + 1, params.range.end.line + 1
    pools = [(d, False) for d in state.diagnostics.get(display, [])]
    pools += [(d, True) for d in ls.lint.get((state.root, display), [])]
    for d, is_lint in pools:
        if d.span is None or d.span.line > last or (d.span.end_line or d.span.line) < first:
            continue
        lsp_diag = _lsp_diagnostic(state, path, d, "promptc lint" if is_lint else "promptc")
        for fix in actions.fixes_for(state, path, d, lint=is_lint):
            out.append(lsp.CodeAction(fix.title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[lsp_diag],
                                      is_preferred=fix.preferred, edit=_workspace_edit(state, fix.edits)))
        out.append(lsp.CodeAction(f"Explain {d.code} (promptc explain)", kind=lsp.CodeActionKind.QuickFix,
                                  diagnostics=[lsp_diag],
                                  command=lsp.Command(f"Explain {d.code}", "promptc.explain", arguments=[d.code])))
    return out


# -- commands ---------------------------------------------------------------------------------------

@server.command("promptc.explain")
def explain(ls: PromptcServer, *args) -> str | None:
    """``[code]`` → the text of ``promptc explain CODE`` (None for an unknown code)."""
    from promptc.core.codes import explain as explain_code, lookup

    entry = lookup(str(args[0])) if args else None
    return explain_code(entry) if entry is not None else None


@server.command("promptc.renderPreview")
def render_preview_command(ls: PromptcServer, *args):
    """``[uri, plan?, inputs?]`` → the plan's rendered request (sample values for missing inputs): the
    segments in order with role, stability, hash, prefix hash, tokens, breakpoint and content."""
    uri, plan, inputs = (list(args) + [None, None, None])[:3]
    if not isinstance(uri, str):
        return {"error": "arguments: [document uri, plan name?, inputs?]"}
    state, path = ls.state_for(uri)
    if not state.plans:
        state.check()
    info = state.module(path)
    declared = [p.name for p in info.module.plans] if info is not None else []
    name = plan or (declared[0] if declared else None)
    if name is None or name not in state.plans:
        return {"error": f"no compiled plan {name!r} here (plans: {', '.join(sorted(state.plans)) or 'none'})"}
    try:
        return render_preview(state.plans[name], inputs if isinstance(inputs, dict) else None)
    except PromptcError as exc:  # bad inputs (E401) or a template failing on them (E419)
        return {"error": str(exc)}


def serve() -> None:
    """Run over stdio until the client exits."""
    server.start_io()


__all__ = ["PromptcServer", "serve", "server"]
