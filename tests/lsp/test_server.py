"""`promptc lsp` end to end: an editor session over stdio (pytest-lsp), one server for the module.

Each test opens or edits documents of a scratch copy of a project, waits for the server to answer a
request sent after the edit (the server handles messages in order, so every diagnostic the edit
produced has arrived by then), and checks what an editor would show against the compiler's own
output for the same text (the build is the oracle for numbers; the LSP must carry them unchanged).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

from promptc.compiler.build import compile_project
from promptc.fmt import format_source

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lsp")
    shutil.copytree(REPO / "examples" / "team", root / "team", ignore=shutil.ignore_patterns("build", ".promptc"))
    scratch = root / "scratch"
    scratch.mkdir()
    (scratch / "promptc.lock").write_text("", encoding="utf-8")
    return root


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "promptc", "lsp"],
                              server_env={**os.environ, "PYTHONPATH": str(REPO)}),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(), root_uri=from_fs_path(str(REPO))))
    yield
    await lsp_client.shutdown_session()


def _uri(path: Path) -> str:
    return from_fs_path(str(path))


async def _settle(client: LanguageClient, uri: str) -> None:
    """Answered only after every notification sent before it was handled (and its diagnostics sent)."""
    await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(uri)))


async def _open(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = _uri(path)
    if text is None:
        text = path.read_text(encoding="utf-8")
    else:
        path.write_text(text, encoding="utf-8")
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "promptc", 1, text)))
    await _settle(client, uri)
    return uri


_versions: dict[str, int] = {}


async def _change(client: LanguageClient, uri: str, text: str) -> None:
    _versions[uri] = _versions.get(uri, 1) + 1
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=_versions[uri]),
        [lsp.TextDocumentContentChangeWholeDocument(text)]))
    await _settle(client, uri)


def _apply(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.split("\n")

    def offset(p: lsp.Position) -> int:
        return sum(len(l) + 1 for l in lines[:p.line]) + p.character

    for e in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[:offset(e.range.start)] + e.new_text + text[offset(e.range.end):]
    return text


def _codes(client: LanguageClient, uri: str) -> list[str]:
    return [d.code for d in client.diagnostics.get(uri, [])]


def _pos(text: str, needle: str, nth: int = 0, delta: int = 1) -> lsp.Position:
    idx = -1
    for _ in range(nth + 1):
        idx = text.index(needle, idx + 1)
    line = text.count("\n", 0, idx)
    return lsp.Position(line, idx - (text.rfind("\n", 0, idx) + 1) + delta)


BAD_ORDER = '''task turn @turn role user {
    input query: string
    """{{ query }}"""
}
global rules @static role system """
Rules.
"""
plan p = turn, rules
'''


@pytest.mark.asyncio(loop_scope="module")
async def test_diagnostics_then_quick_fix_reorders_the_plan_and_the_error_is_gone(client, project):
    path = project / "scratch" / "order.prompt"
    uri = await _open(client, path, BAD_ORDER)
    diags = client.diagnostics[uri]
    e201 = next(d for d in diags if d.code == "E201")
    assert e201.severity == lsp.DiagnosticSeverity.Error
    assert e201.range.start == _pos(BAD_ORDER, "rules", nth=1, delta=0)
    assert e201.code_description is not None and e201.code_description.href.endswith("#e201-stability-decreases")

    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), e201.range, lsp.CodeActionContext([e201])))
    fix = next(a for a in actions if a.title.startswith("Reorder plan"))
    fixed = _apply(BAD_ORDER, fix.edit.changes[uri])
    assert fixed.endswith("plan p = rules, turn\n")
    await _change(client, uri, fixed)
    assert "E201" not in _codes(client, uri)
    explain = next(a for a in actions if a.title.startswith("Explain E201"))
    # lsprotocol's client-side converter reads a CodeAction holding only a command as a Command whose
    # `command` is the nested object's text; the command and its argument are in it either way
    assert "'command': 'promptc.explain', 'arguments': ['E201']" in str(explain) or (
        explain.command.command == "promptc.explain" and explain.command.arguments == ["E201"])
    text = await client.workspace_execute_command_async(lsp.ExecuteCommandParams("promptc.explain", ["E201"]))
    assert "E201" in text and "stability" in text


VOLATILE = '''input user_name: string @turn
global rules @session """
You are helpful.
You are talking to {{ user_name }}.
"""
task ask @turn role user """Go."""
plan p = rules, ask
'''


@pytest.mark.asyncio(loop_scope="module")
async def test_move_a_volatile_value_into_a_turn_segment(client, project):
    path = project / "scratch" / "volatile.prompt"
    uri = await _open(client, path, VOLATILE)
    e202 = next(d for d in client.diagnostics[uri] if d.code == "E202")
    assert e202.related_information and e202.related_information[0].location.range.start.line == 0  # the declaration
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), e202.range, lsp.CodeActionContext([e202])))
    move = next(a for a in actions if a.title.startswith("Move the line"))
    declare = next(a for a in actions if a.title == "Declare segment `rules` @turn")
    assert "global rules @turn" in _apply(VOLATILE, declare.edit.changes[uri])
    fixed = _apply(VOLATILE, move.edit.changes[uri])
    await _change(client, uri, fixed)
    assert [c for c in _codes(client, uri) if c.startswith("E")] == []
    path.write_text(fixed, encoding="utf-8")
    result = compile_project([path.parent / "volatile.prompt"], annotate_tokens=False)
    assert not result.errors
    ids = [s.id for s in result.plans["p"].segments]
    assert ids == ["rules", "ask", "rules_user_name"]
    assert "{{ user_name }}" in result.plans["p"].segments[2].template


DICT = '''input prefs: object { theme: string, lang: string } @session
agent prefs_block @session """
{% for k, v in prefs.items() %}{{ k }}={{ v }}
{% endfor %}
"""
plan p = prefs_block
'''


@pytest.mark.asyncio(loop_scope="module")
async def test_sort_a_mapping_iteration(client, project):
    uri = await _open(client, project / "scratch" / "dict.prompt", DICT)
    e203 = next(d for d in client.diagnostics[uri] if d.code == "E203")
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), e203.range, lsp.CodeActionContext([e203])))
    fix = next(a for a in actions if "dictsort" in a.title)
    fixed = _apply(DICT, fix.edit.changes[uri])
    assert "prefs|dictsort" in fixed
    await _change(client, uri, fixed)
    assert "E203" not in _codes(client, uri)


@pytest.mark.asyncio(loop_scope="module")
async def test_an_edit_in_a_shared_file_reaches_its_dependents(client, project):
    shared = project / "team" / "shared.prompt"
    backend = project / "team" / "backend.prompt"
    text = shared.read_text(encoding="utf-8")
    uri = await _open(client, shared)
    assert _codes(client, uri) == []
    broken = text.replace("global repo_tools", "global repo_toolz")
    await _change(client, uri, broken)
    backend_codes = _codes(client, _uri(backend))
    assert "E103" in backend_codes  # `repo_tools` is now unknown in backend.prompt's plan
    await _change(client, uri, text)
    assert _codes(client, _uri(backend)) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_hover_inlay_hints_definition_references(client, project):
    team = project / "team"
    backend = team / "backend.prompt"
    text = backend.read_text(encoding="utf-8")
    uri = await _open(client, backend)
    oracle = compile_project([team])
    plan = oracle.plans["backend"]
    rules = plan.segments[0]

    pos = _pos(text, "rules,", delta=1)
    hover = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), pos))
    value = hover.contents.value
    assert rules.hash[:19] in value and "@static" in value
    for target, n in rules.tokens.items():
        assert f"{target} {n}" in value
    assert "shares its cached prefix: backend, docs, frontend" in value

    hints = await client.text_document_inlay_hint_async(lsp.InlayHintParams(
        lsp.TextDocumentIdentifier(uri), lsp.Range(lsp.Position(0, 0), lsp.Position(len(text.split("\n")), 0))))
    plan_line = text[:text.index("plan backend")].count("\n")
    labels = [h.label for h in hints if h.position.line == plan_line]
    assert labels == [f"Σ{s.prefix_tokens[plan.targets[0].name]}" + (f" ▮ breakpoint {', '.join(s.breakpoint)}"
                                                                      if s.breakpoint else "")
                      for s in plan.segments if s.prefix_tokens] and labels

    loc = await client.text_document_definition_async(lsp.DefinitionParams(lsp.TextDocumentIdentifier(uri), pos))
    shared_text = (team / "shared.prompt").read_text(encoding="utf-8")
    assert loc.uri == _uri(team / "shared.prompt")
    assert loc.range.start == _pos(shared_text, "global rules @static", delta=len("global "))

    refs = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=lsp.TextDocumentIdentifier(uri), position=pos,
        context=lsp.ReferenceContext(include_declaration=True)))
    assert sorted(Path(r.uri).name for r in refs) == ["backend.prompt", "docs.prompt", "frontend.prompt",
                                                       "shared.prompt"]

    task = (team / "task.prompt").read_text(encoding="utf-8")
    tpos = _pos(task, "{{ query }}", delta=4)
    tdef = await client.text_document_definition_async(lsp.DefinitionParams(
        lsp.TextDocumentIdentifier(_uri(team / "task.prompt")), tpos))
    assert tdef.range.start == _pos(task, "input query", delta=len("input "))
    ihover = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(_uri(team / "task.prompt")), tpos))
    assert "level `turn`" in ihover.contents.value and "plan `backend` → `turn`" in ihover.contents.value


@pytest.mark.asyncio(loop_scope="module")
async def test_rename_a_segment_across_files_then_the_project_still_compiles(client, project):
    team = project / "team"
    backend = team / "backend.prompt"
    text = backend.read_text(encoding="utf-8")
    uri = await _open(client, backend)
    pos = _pos(text, "repo_tools,", delta=2)
    edit = await client.text_document_rename_async(lsp.RenameParams(lsp.TextDocumentIdentifier(uri), pos, "tools"))
    assert set(Path(u).name for u in edit.changes) == {"backend.prompt", "docs.prompt", "frontend.prompt",
                                                       "shared.prompt"}
    scratch = project / "renamed"
    shutil.copytree(team, scratch)
    for u, edits in edit.changes.items():
        f = scratch / Path(u).name
        f.write_text(_apply(f.read_text(encoding="utf-8"), edits), encoding="utf-8")
    result = compile_project([scratch], annotate_tokens=False)
    assert not result.errors and [s.id for s in result.plans["backend"].segments][1] == "tools"
    bad = await client.text_document_rename_async(lsp.RenameParams(lsp.TextDocumentIdentifier(uri), pos, "x"))
    assert bad is not None  # a valid name is accepted; invalid ones are refused below
    with pytest.raises(Exception):
        await client.text_document_rename_async(lsp.RenameParams(lsp.TextDocumentIdentifier(uri), pos, "1 bad"))


@pytest.mark.asyncio(loop_scope="module")
async def test_formatting_symbols_completion_and_preview(client, project):
    messy = 'global   a@static role system "x"\nplan p=a\n'
    path = project / "scratch" / "fmt.prompt"
    uri = await _open(client, path, messy)
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        lsp.TextDocumentIdentifier(uri), lsp.FormattingOptions(4, True)))
    assert _apply(messy, edits) == format_source(messy).text == 'global a @static role system "x"\nplan p = a\n'

    team = project / "team"
    backend = team / "backend.prompt"
    text = backend.read_text(encoding="utf-8")
    buri = await _open(client, backend)
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        lsp.TextDocumentIdentifier(buri)))
    assert [s.name for s in symbols] == ["./shared.prompt", "./task.prompt", "backend", "backend_memory", "backend"]
    ws = await client.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="repo_"))
    assert any(s.name == "repo_tools" and s.location.uri == _uri(team / "shared.prompt") for s in ws)

    at = _pos(text, "@static", delta=1)
    items = await client.text_document_completion_async(lsp.CompletionParams(lsp.TextDocumentIdentifier(buri), at))
    assert {"static", "session", "turn"} <= {i.label for i in items.items}
    role = _pos(text, "role system", delta=5)
    items = await client.text_document_completion_async(lsp.CompletionParams(lsp.TextDocumentIdentifier(buri), role))
    assert {"system", "user"} <= {i.label for i in items.items}
    imp = _pos(text, '"./shared', delta=1)
    items = await client.text_document_completion_async(lsp.CompletionParams(lsp.TextDocumentIdentifier(buri), imp))
    assert "std/style/concise" not in {i.label for i in items.items}  # a .md include, not a module
    assert "std/roles/reviewer" in {i.label for i in items.items} and "./shared" in {i.label for i in items.items}

    preview = await client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        "promptc.renderPreview", [buri, "backend", {"file": "api/app.py", "query": "Add a health check."}]))
    oracle = compile_project([team]).plans["backend"]
    request = oracle.bind().render(file="api/app.py", query="Add a health check.")
    assert [s["hash"] for s in preview["segments"]] == [s.hash for s in request.segments]
    assert preview["segments"][-1]["content"] == request.segments[-1].content


@pytest.mark.asyncio(loop_scope="module")
async def test_lint_on_save_against_git_with_cost_and_an_acknowledged_suppression(client, project):
    import subprocess

    from promptc.lint.run import lint

    repo = project / "repo"
    shutil.copytree(REPO / "examples" / "team", repo, ignore=shutil.ignore_patterns("build", ".promptc"))
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "core.hooksPath=/dev/null"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "baseline"], check=True)

    shared = repo / "shared.prompt"
    changed = shared.read_text(encoding="utf-8").replace("Team rules:", "Team rules (v2):")
    uri = await _open(client, shared)
    await _change(client, uri, changed)
    shared.write_text(changed, encoding="utf-8")
    client.text_document_did_save(lsp.DidSaveTextDocumentParams(lsp.TextDocumentIdentifier(uri)))
    await _settle(client, uri)
    found = [d for d in client.diagnostics[uri] if d.source == "promptc lint"]
    oracle = next(f for f in lint([repo], None, display_root=repo).findings if f.code == "E901")
    tokens = sum(t.tokens for imp in oracle.impact for t in imp.targets)
    e901 = next(d for d in found if d.code == "E901")
    assert f"({tokens} tokens re-written)" in e901.message and "costs $" in e901.message
    assert e901.range.start.line == oracle.location.line - 1

    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), e901.range, lsp.CodeActionContext([e901])))
    ack = next(a for a in actions if a.title.startswith("Acknowledge E901"))
    acknowledged = _apply(changed, ack.edit.changes[uri])
    assert "# promptc: allow E901 — intended: say why this cache reset is worth it\n## The rules every" in acknowledged
    await _change(client, uri, acknowledged)
    shared.write_text(acknowledged, encoding="utf-8")
    client.text_document_did_save(lsp.DidSaveTextDocumentParams(lsp.TextDocumentIdentifier(uri)))
    await _settle(client, uri)
    assert "E901" not in [d.code for d in client.diagnostics[uri] if d.source == "promptc lint"]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_loose_file_with_wide_characters(client, project):
    """A file outside any project is checked alone; columns reach the editor in UTF-16 units (the
    compiler counts characters: 🙂 is one character but two UTF-16 units)."""
    loose = project / "loose"
    loose.mkdir()
    (loose / "other.prompt").write_text("plan broken = \n", encoding="utf-8")  # never read: not imported
    text = 'global g @static role system """🙂 {{ nope }}"""\nplan p = g\n'
    uri = await _open(client, loose / "main.prompt", text)
    e102 = next(d for d in client.diagnostics[uri] if d.code == "E102")
    assert e102.range.start == lsp.Position(0, text.index("nope") + 1)  # +1: the emoji's second unit
    assert _uri(loose / "other.prompt") not in client.diagnostics
