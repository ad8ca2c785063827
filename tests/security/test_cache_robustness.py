"""Issue 9 (5): a damaged lock, manifest or token cache never breaks a build.

A lock that is valid TOML of the wrong shape, not TOML, or a directory is reported (W801) by
``build --check`` and rewritten by ``build``; a manifest or token cache of the wrong shape (or a
directory) is ignored and rebuilt. No case is an internal error, and no case leaves a state in which
every later build fails.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptc import cli
from promptc.compiler import manifest
from promptc.compiler.token_cache import TokenCache
from promptc.compiler.build import compile_project
from promptc.lock import compare, lock_shape_error, read_lock
from tests.security.compiler_helpers import project, static, write  # noqa: F401 (fixtures)

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=12)


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str]:
    monkeypatch.setattr("sys.argv", ["promptc", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "internal error" not in text
    return code, text


@pytest.fixture()
def built(project, monkeypatch, capsys) -> Path:
    write(project, {"main.prompt": static("Be brief.")})
    code, text = run_cli(monkeypatch, capsys, "build", str(project))
    assert code == 0, text
    return project


WRONG_LOCKS = {
    "plan-is-int": "version = 1\nplan = 3\n",
    "plan-entry-is-string": 'version = 1\n[plan]\np = "x"\n',
    "segment-not-table": "version = 1\n[plan.p]\nsegment = [1, 2]\n",
    "hash-not-string": 'version = 1\n[[plan.p.segment]]\nid = "rules"\nhash = 3\n',
    "entries-not-strings": 'version = 1\n[[plan.p.segment]]\nid = "rules"\nentries = [1]\n',
    "tokens-not-table": 'version = 1\n[[plan.p.segment]]\nid = "rules"\ntokens = 3\n',
    "no-version": "[plan]\n",
    "not-toml": "this is = = not toml",
}


@pytest.mark.parametrize("name", sorted(WRONG_LOCKS))
def test_wrong_shaped_lock_is_reported_by_check_and_rewritten_by_build(built, monkeypatch, capsys, name):
    lock = built / "promptc.lock"
    good = lock.read_text()
    lock.write_text(WRONG_LOCKS[name])
    code, text = run_cli(monkeypatch, capsys, "build", "--check", str(built))
    assert code == 1 and "W801" in text
    code, text = run_cli(monkeypatch, capsys, "build", str(built))
    assert code == 0, text
    assert lock.read_text() == good
    assert run_cli(monkeypatch, capsys, "build", "--check", str(built))[0] == 0


def test_lock_that_is_a_directory(built, monkeypatch, capsys):
    lock = built / "promptc.lock"
    lock.unlink()
    lock.mkdir()
    code, text = run_cli(monkeypatch, capsys, "build", "--check", str(built))
    assert code == 1 and "W801" in text
    code, text = run_cli(monkeypatch, capsys, "build", str(built))
    assert code == 2 and "E811" in text
    lock.rmdir()
    assert run_cli(monkeypatch, capsys, "build", str(built))[0] == 0


def test_plans_directory_that_is_a_file(project, monkeypatch, capsys):
    write(project, {"main.prompt": static("Be brief."), ".promptc/plans": "not a directory"})
    code, text = run_cli(monkeypatch, capsys, "build", str(project))
    assert code == 2 and "E811" in text


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_read_lock_shape_check_accepts_only_locks(data):
    problem = lock_shape_error(data)
    if problem is None:  # whatever passes the check, compare() can use without failing
        compare(data, {})


def test_read_lock_of_a_directory(tmp_path):
    data = read_lock(tmp_path)
    assert data["version"] == -1 and data["error"]


WRONG_MANIFESTS = ["[]", "3", '"x"', "{}", '{"version": 1, "inputs": [], "outputs": {}}', "{not json",
                   '{"version": 1, "prompt_files": [], "inputs": {"a": 3}, "outputs": {}, "diagnostics": "", '
                   '"summary": "", "diagnostics_json": []}']


@pytest.mark.parametrize("text", WRONG_MANIFESTS)
def test_wrong_shaped_manifest_is_ignored_and_rebuilt(built, monkeypatch, capsys, text):
    path = manifest.manifest_path(built)
    path.write_text(text)
    code, out = run_cli(monkeypatch, capsys, "build", str(built))
    assert code == 0 and "up to date" not in out
    assert json.loads(path.read_text())["version"] == manifest.VERSION  # rewritten
    code, out = run_cli(monkeypatch, capsys, "build", str(built))
    assert code == 0 and "up to date" in out  # and the shortcut works again


def test_manifest_that_is_a_directory_does_not_break_builds(built, monkeypatch, capsys):
    path = manifest.manifest_path(built)
    path.unlink()
    path.mkdir()
    for _ in range(2):
        code, out = run_cli(monkeypatch, capsys, "build", str(built))
        assert code == 0, out


def test_cache_directory_that_is_a_file_does_not_break_builds(built, monkeypatch, capsys):
    cache = built / ".promptc" / "cache"
    shutil.rmtree(cache)
    cache.write_text("oops")
    for _ in range(2):
        code, out = run_cli(monkeypatch, capsys, "build", str(built))
        assert code == 0, out


def _token_caches(root: Path) -> list[Path]:
    return sorted((root / ".promptc" / "cache").glob("tokens-*.json"))


WRONG_TOKEN_CACHES = ["[]", "{}", '{"format": 3, "counts": [1, 2]}', "not json"]
#: Damage to the entries of a real cache (the keys match, so a build would use the values).
DAMAGE = {
    "value-a-list": lambda c: [c, "AAAA"],
    "negative": lambda c: -1 - c,
    "count-a-string": lambda c: str(c),
    "count-a-float": lambda c: c + 0.5,
}


@pytest.mark.parametrize("text", WRONG_TOKEN_CACHES)
def test_wrong_shaped_token_cache_is_ignored_and_rewritten(built, monkeypatch, capsys, text):
    caches = _token_caches(built)
    assert caches
    for p in caches:
        p.write_text(text)
    (built / "main.prompt").write_text(static("Be brief, please."))  # a real build, not the no-op shortcut
    code, out = run_cli(monkeypatch, capsys, "build", str(built))
    assert code == 0, out
    for p in caches:
        data = json.loads(p.read_text())
        assert data["format"] == 3 and isinstance(data["counts"], dict) and data["counts"]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_token_cache_entries_are_recomputed(built, damage):
    cache_dir = built / ".promptc" / "cache"
    clean = compile_project([built], cache_dir=cache_dir).raise_on_error()
    for p in _token_caches(built):
        data = json.loads(p.read_text())
        data["counts"] = {k: DAMAGE[damage](v) for k, v in data["counts"].items()}
        data["boundaries"] = {k: "yes" for k in data.get("boundaries", {})}
        p.write_text(json.dumps(data))
    again = compile_project([built], cache_dir=cache_dir).raise_on_error()
    assert again.plans["p"].to_json() == clean.plans["p"].to_json()


def test_token_cache_that_is_a_directory(built):
    for p in _token_caches(built):
        p.unlink()
        p.mkdir()
    result = compile_project([built], cache_dir=built / ".promptc" / "cache")
    assert not result.errors and result.plans["p"].segments[0].tokens


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(JSON)
def test_any_json_token_cache_loads_to_a_usable_cache(tmp_path, data):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(data))
    cache = TokenCache.load(path)
    for key in list(cache.counts):
        assert type(cache.count(key)) is int and cache.count(key) >= 0
    assert all(v is True for v in cache.boundaries.values())


def test_manifest_with_a_nul_byte_path_is_ignored(built, monkeypatch, capsys):
    path = manifest.manifest_path(built)
    data = json.loads(path.read_text())
    data["inputs"]["/tmp/a\x00b"] = {"stat": [1, 1], "sha256": "0" * 64}
    path.write_text(json.dumps(data))
    code, out = run_cli(monkeypatch, capsys, "build", str(built))
    assert code == 0 and "up to date" not in out
