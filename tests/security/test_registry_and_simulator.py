"""Extras of issue 22: the SQLite cache registry refuses another program's database (E530)
instead of adopting it, and creates its files readable by their owner only; the provider
simulator answers a request of the wrong types with 400 in the provider's error shape, not 500."""

from __future__ import annotations

import os
import sqlite3
import stat

import httpx
import pytest

from promptc.runtime.registry import RegistryError, SQLiteBackend
from promptc.runtime.sim.server import Simulator


def test_a_foreign_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, note TEXT)")
        c.execute("INSERT INTO entries (note) VALUES ('mine')")
    before = path.read_bytes()
    with pytest.raises(RegistryError) as exc:
        SQLiteBackend(path)
    assert exc.value.code == "E530" and "not a promptc cache registry" in str(exc.value)
    assert path.read_bytes() == before
    with sqlite3.connect(path) as c:  # the other program's data and schema are as they were
        assert c.execute("SELECT note FROM entries").fetchall() == [("mine",)]
        assert {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")} == {"entries"}


def test_a_file_that_is_not_sqlite_is_e530(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello " * 1000)
    with pytest.raises(RegistryError) as exc:
        SQLiteBackend(path)
    assert exc.value.code == "E530"


def test_registry_files_are_private_and_reopen(tmp_path):
    path = tmp_path / "cache" / "registry.sqlite3"
    SQLiteBackend(path)
    for f in path.parent.iterdir():  # the database and its WAL and shared-memory files
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f
    SQLiteBackend(path)  # our own registry is reopened (application_id)


def test_a_registry_written_before_the_application_id_is_adopted(tmp_path):
    path = tmp_path / "old.sqlite3"
    SQLiteBackend(path)
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA application_id = 0")  # as an older promptc left it
    SQLiteBackend(path)
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA application_id").fetchone()[0] != 0


@pytest.fixture(scope="module")
def sim():
    with Simulator() as s:
        yield s


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"model": "gpt-5.6", "messages": [1, 2]}),
    ("/v1/chat/completions", {"model": "gpt-5.6", "messages": [{"role": "user", "content": 5}]}),
    ("/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": 5}]}),
    ("/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 5, "system": 3,
                      "messages": [{"role": "user", "content": "hi"}]}),
])
def test_the_simulator_answers_wrong_types_with_400(sim, path, body):
    r = httpx.post(sim.url + path, json=body, headers={"authorization": "Bearer k", "x-api-key": "k"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
