"""Issue 9 (1): a .prompt file reads only files under the project root, the stdlib and allowed roots.

Every way a build reads a file (import, include/import/extends in templates, ``memory from``, a
symlink, an entry file) is refused outside the roots with E801, and the refused file's content never
appears in a diagnostic or a plan. Directories, FIFOs and devices are refused (E802) without
blocking; sizes are bounded (E803). At run time a plan renders includes only from its own table.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promptc
from promptc.compiler.build import compile_project
from promptc.compiler.confine import DEFAULT_MAX_FILE_BYTES, FileGuard, FileRefused, project_root
from promptc.core.errors import render_all
from tests.security.compiler_helpers import SECRET, outside, project, static, write  # noqa: F401 (fixtures)


def build(root: Path, **kw):
    return compile_project([root], annotate_tokens=False, **kw)


def codes(result) -> set[str]:
    return {d.code for d in result.diagnostics}


def assert_not_leaked(result) -> None:
    text = render_all(result.diagnostics)
    assert SECRET not in text
    for plan in result.plans.values():
        assert SECRET not in plan.to_json()


def test_import_of_an_absolute_path_is_refused_without_showing_the_file(project, outside):
    write(project, {"main.prompt": f'import "{outside / "secret.prompt"}"\n' + static("Hi.")})
    r = build(project)
    assert codes(r) == {"E801"}
    d = r.diagnostics[0]
    assert d.span.path == "main.prompt" and d.span.line == 1
    assert_not_leaked(r)


def test_etc_passwd_first_line_is_not_printed(project):
    write(project, {"main.prompt": 'import "/etc/passwd"\n' + static("Hi.")})
    r = build(project)
    assert codes(r) == {"E801"}
    assert "root:" not in render_all(r.diagnostics)


def test_relative_import_climbing_out_of_the_root_is_refused(project, outside):
    write(project, {"sub/main.prompt": 'import "../../outside/secret.prompt"\n' + static("Hi.")})
    r = build(project)
    assert codes(r) == {"E801"}
    assert_not_leaked(r)


@pytest.mark.parametrize("tag", ["include", "import", "extends"])
def test_template_file_access_outside_the_root_is_refused(project, outside, tag):
    stmt = {"include": '{% include "../outside/secret.txt" %}',
            "import": '{% import "../outside/secret.txt" as s %}',
            "extends": '{% extends "../outside/secret.txt" %}'}[tag]
    write(project, {"main.prompt": static(stmt)})
    r = build(project)
    assert codes(r) == {"E801"}
    assert r.diagnostics[0].span.line == 2
    assert_not_leaked(r)


def test_computed_include_in_a_static_segment_is_refused(project, outside):
    target = str(outside / "secret.txt")
    half = len(target) // 2
    write(project, {"main.prompt": static('{% include "' + target[:half] + '" ~ "' + target[half:] + '" %}')})
    r = build(project)
    assert codes(r) == {"E801"}
    assert_not_leaked(r)


def test_memory_from_outside_the_root_is_refused(project, outside):
    write(project, {"main.prompt": f'agent notes @append_only memory from "{outside / "secret.txt"}"\nplan p = notes\n'})
    r = build(project)
    assert codes(r) == {"E801"}
    assert r.diagnostics[0].span.line == 1
    assert_not_leaked(r)


@pytest.mark.parametrize("kind", ["import", "include", "memory", "entry"])
def test_symlinks_resolving_outside_the_root_are_refused(project, outside, kind):
    if kind == "import":
        os.symlink(outside / "secret.prompt", project / "link.prompt.txt")
        write(project, {"main.prompt": 'import "./link.prompt.txt"\n' + static("Hi.")})
    elif kind == "include":
        os.symlink(outside / "secret.txt", project / "link.txt")
        write(project, {"main.prompt": static('{% include "link.txt" %}')})
    elif kind == "memory":
        os.symlink(outside / "secret.txt", project / "link.md")
        write(project, {"main.prompt": 'agent notes @append_only memory from "link.md"\nplan p = notes\n'})
    else:  # a .prompt file of the project that is a link to a file outside it
        os.symlink(outside / "secret.prompt", project / "evil.prompt")
        write(project, {"main.prompt": static("Hi.")})
    r = build(project)
    assert "E801" in codes(r)
    assert_not_leaked(r)


def test_a_symlinked_directory_pointing_outside_is_refused(project, outside):
    os.symlink(outside, project / "vendor")
    write(project, {"main.prompt": 'import "./vendor/shared.prompt"\n\nplan p = shared\n'})
    r = build(project)
    assert "E801" in codes(r)


def test_symlinks_inside_the_root_are_fine(project):
    write(project, {"real/rules.txt": "Be brief.", "main.prompt": static('{% include "alias.txt" %}')})
    os.symlink(project / "real" / "rules.txt", project / "alias.txt")
    r = build(project)
    assert not r.errors
    assert "Be brief." in r.plans["p"].segments[0].content


@pytest.mark.parametrize("kind", ["import", "include", "memory"])
def test_directories_are_refused(project, kind):
    (project / "thing").mkdir()
    (project / "thing" / "x").write_text("x")
    body = {"import": 'import "./thing"\n' + static("Hi."),
            "include": static('{% include "thing" %}'),
            "memory": 'agent notes @append_only memory from "thing"\nplan p = notes\n'}[kind]
    write(project, {"main.prompt": body})
    r = build(project)
    assert codes(r) == {"E802"}
    assert "directory" in r.diagnostics[0].message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("kind", ["import", "include", "memory"])
def test_fifos_are_refused_without_blocking(project, kind):
    os.mkfifo(project / "pipe")  # opening it for reading would block the build forever
    body = {"import": 'import "./pipe"\n' + static("Hi."),
            "include": static('{% include "pipe" %}'),
            "memory": 'agent notes @append_only memory from "pipe"\nplan p = notes\n'}[kind]
    write(project, {"main.prompt": body})
    r = build(project)
    assert codes(r) == {"E802"}
    assert "not a regular file" in r.diagnostics[0].message


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_devices_are_refused_even_inside_an_allowed_root(project):
    write(project, {"pyproject.toml": '[tool.promptc]\nallow_roots = ["/dev"]\n',
                    "main.prompt": 'agent notes @append_only memory from "/dev/zero"\nplan p = notes\n'})
    r = build(project)
    assert codes(r) == {"E802"}


def test_file_size_is_bounded_by_a_configurable_limit(project):
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_file_bytes = 1000\n",
                    "big.txt": "x" * 1001, "main.prompt": static('{% include "big.txt" %}')})
    r = build(project)
    assert codes(r) == {"E803"}
    assert "1001 bytes, over the limit of 1000 bytes" in r.diagnostics[0].message
    assert "max_file_bytes" in r.diagnostics[0].hint
    (project / "pyproject.toml").write_text("[tool.promptc]\nmax_file_bytes = 2000\n")
    assert not build(project).errors


def test_default_size_limit_applies_to_memory_files(project):
    write(project, {"big.md": "- " + "y" * DEFAULT_MAX_FILE_BYTES + "\n",
                    "main.prompt": 'agent notes @append_only memory from "big.md"\nplan p = notes\n'})
    assert codes(build(project)) == {"E803"}


def test_allow_roots_in_pyproject_opt_in(project, outside):
    write(project, {"main.prompt": f'import "{outside / "shared.prompt"}"\n\nplan p = shared\n'})
    assert "E801" in codes(build(project))
    write(project, {"pyproject.toml": '[tool.promptc]\nallow_roots = ["../outside"]\n'})
    r = build(project)
    assert not r.errors
    assert r.plans["p"].segments[0].content == "Shared rules.\n"


def test_allow_root_argument_opt_in(project, outside):
    write(project, {"main.prompt": static('{% include "' + str(outside / "secret.txt") + '" %}')})
    assert codes(build(project)) == {"E801"}
    r = build(project, allow_roots=[outside])
    assert not r.errors and SECRET in r.plans["p"].segments[0].content


def test_allow_root_cli_flag(project, outside, capsys, monkeypatch):
    from promptc import cli

    write(project, {"main.prompt": f'import "{outside / "shared.prompt"}"\n\nplan p = shared\n'})
    for extra, want in (([], 1), (["--allow-root", str(outside)], 0)):
        monkeypatch.setattr("sys.argv", ["promptc", "check", str(project), *extra])
        with pytest.raises(SystemExit) as exc:
            cli.main()
        assert exc.value.code == want, capsys.readouterr()


def test_malformed_allow_roots_is_reported_and_does_not_widen_access(project, outside):
    write(project, {"pyproject.toml": '[tool.promptc]\nallow_roots = "/"\n',
                    "main.prompt": f'import "{outside / "secret.prompt"}"\n' + static("Hi.")})
    r = build(project)
    assert codes(r) == {"E801", "E133"}
    assert_not_leaked(r)


def test_project_root_is_the_nearest_marked_ancestor(tmp_path):
    repo = write(tmp_path / "repo", {"pyproject.toml": "[tool.promptc]\n",
                                     "common/rules.txt": "Common rules.",
                                     "agents/main.prompt": static('{% include "../common/rules.txt" %}')})
    assert project_root(repo / "agents") == repo.resolve()
    r = build(repo / "agents")
    assert not r.errors
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # no marker: the given directory is the root
    assert project_root(repo / "agents") == (repo / "agents").resolve()
    assert codes(build(repo / "agents")) == {"E801"}


def test_a_lockfile_marks_the_root_too(tmp_path):
    repo = write(tmp_path / "repo", {"promptc.lock": "version = 1\n", "a/b/x.prompt": static("Hi.")})
    assert project_root(repo / "a" / "b") == repo.resolve()


def test_stdlib_stays_readable(project):
    write(project, {"main.prompt": 'import "std/safety"\n\nplan p = safety_rules\n'})
    r = build(project)
    assert "E801" not in codes(r)


def test_guard_rechecks_the_opened_file(tmp_path):
    """The guard re-checks the opened descriptor: a file swapped for a FIFO after the check is refused."""
    guard = FileGuard(tmp_path)
    f = tmp_path / "f.txt"
    f.write_text("ok")
    assert guard.read_text(f) == "ok"
    f.unlink()
    os.mkfifo(f)
    with pytest.raises(FileRefused) as exc:
        guard.read_text(f)
    assert exc.value.code == "E802"


# -- run time ---------------------------------------------------------------------------------


def _computed_include_plan(project: Path):
    write(project, {"a.txt": "A-TEXT",
                    "main.prompt": 'task t @turn role user {\n    input name: string\n'
                                   '    """{% include "a.txt" %}|{% include name %}"""\n}\n\nplan p = t\n'})
    return promptc.compile(project, annotate_tokens=False)["p"]


def test_runtime_includes_come_only_from_the_plan(project, outside):
    plan = _computed_include_plan(project)
    assert set(plan.includes) == {"a.txt"}
    session = plan.bind()
    assert session.render(name="a.txt").segments[-1].content == "A-TEXT|A-TEXT"
    for name in (str(outside / "secret.txt"), "../outside/secret.txt", "/etc/passwd"):
        with pytest.raises(promptc.PromptcError) as exc:  # E419: the plan carries no such template
            session.render(name=name)
        assert exc.value.code == "E419" and "TemplateNotFound" in str(exc.value)
        assert SECRET not in str(exc.value) and "root:" not in str(exc.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["..", ".", "outside", "proj", "secret.txt", "secret.prompt", "link", "sub", ""]),
                min_size=1, max_size=6), st.booleans(), st.sampled_from(["import", "include", "memory"]))
def test_no_path_spelling_reaches_outside(tmp_path_factory, parts, absolute, kind):
    base = tmp_path_factory.mktemp("h")
    out = base / "outside"
    out.mkdir()
    (out / "secret.txt").write_text(SECRET)
    (out / "secret.prompt").write_text(SECRET)
    proj = base / "proj"
    (proj / "sub").mkdir(parents=True)
    if not (proj / "link").exists():
        os.symlink(out, proj / "link")
    path = ("/" if absolute else "") + "/".join(parts)
    if absolute:
        path = str(base) + path
    body = {"import": f'import "{path}"\n' + static("Hi."), "include": static('{% include "' + path + '" %}'),
            "memory": f'agent notes @append_only memory from "{path}"\nplan p = notes\n'}[kind]
    (proj / "sub" / "main.prompt").write_text(body)
    r = compile_project([proj], annotate_tokens=False)
    assert_not_leaked(r)


@pytest.mark.parametrize("kind,code", [("import", "E104"), ("include", "E107"), ("memory", "E109")])
def test_a_nul_byte_in_a_path_is_not_found_not_a_crash(project, kind, code):
    body = {"import": 'import "x\\u0000y"\n' + static("Hi."),
            "include": static('{% include "l\\x00.txt" %}'),
            "memory": 'agent notes @append_only memory from "x\\u0000y"\nplan p = notes\n'}[kind]
    write(project, {"main.prompt": body})
    assert codes(build(project)) == {code}


def test_a_non_utf8_included_file_is_a_located_error(project):
    write(project, {"main.prompt": static('{% include "latin1.txt" %}')})
    (project / "latin1.txt").write_bytes(b"caf\xe9\n")
    r = build(project)
    assert codes(r) == {"E108"}
    assert "not UTF-8" in r.diagnostics[0].message
