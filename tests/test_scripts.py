"""scripts/demo.sh says what it is doing at each step (a CI log shows progress), and its note about the
W604 warnings names exactly the examples that produce them; scripts/test.sh runs the suite in two
pytest-xdist workers, a whole file per worker, the longest files first (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

from promptc.compiler.build import compile_project

REPO = Path(__file__).resolve().parent.parent
DEMO = (REPO / "scripts" / "demo.sh").read_text(encoding="utf-8")


def test_demo_sh_is_valid_bash_and_prints_each_step():
    assert subprocess.run(["bash", "-n", str(REPO / "scripts" / "demo.sh")]).returncode == 0
    steps = re.findall(r'^step (\d) "', DEMO, flags=re.M)
    assert steps == ["1", "2", "3", "4"]
    # each slow command comes after its step line
    for step, command in (("1", "bash scripts/setup.sh"), ("2", "promptc build"), ("4", "promptc demo")):
        assert DEMO.index(f"step {step} ") < DEMO.index(command)


def test_the_w604_note_names_the_examples_that_warn(build_context):
    warned = set()
    for example in sorted(p for p in (REPO / "examples").iterdir() if p.is_dir()):
        result = compile_project([example], context=build_context)
        assert not result.errors
        w604 = [d for d in result.diagnostics if d.code == "W604"]
        if w604:
            warned.add(example.name)
            for d in w604:  # "a few hundred tokens ... below ... 1024"
                tokens = int(re.search(r"static prefix \((\d+) tokens", d.message).group(1))
                assert tokens < 1000 and "minimum of 1024" in d.message, d.message
    note = DEMO.split("NOTE", 2)[1]
    assert warned == {"support", "stdlib_tour"}
    assert all(name in note for name in warned) and "W604" in note and "team" not in note


# -- the README's test command: two xdist workers, a file per worker, longest files first -----------------
TEST_SH = (REPO / "scripts" / "test.sh").read_text(encoding="utf-8")


def pytest_line() -> list[str]:
    """The pytest argv of scripts/test.sh (after ``python -m``), without its ``"$@"``."""
    (line,) = [ln for ln in TEST_SH.splitlines() if ln.startswith("python -m pytest")]
    argv = shlex.split(line)[2:]
    assert argv[-1] == "$@", line  # the caller's arguments come last, so `-n 0` / `-n auto` override
    return argv[:-1]


def test_test_sh_runs_the_suite_in_two_workers_a_file_at_a_time_in_conftest_order():
    argv = pytest_line()
    assert argv[argv.index("-n") + 1] == "2"
    assert argv[argv.index("--dist") + 1] == "loadfile" and "--no-loadscope-reorder" in argv


def test_the_pytest_line_runs_under_xdist_with_each_file_on_one_worker():
    """The real line, on two small files: two workers start, each file runs whole on one of them."""
    files = ["tests/test_show.py", "tests/test_scripts.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not this run's worker
    r = subprocess.run([sys.executable, "-m", *pytest_line(), "-v", files[0],
                        files[1] + "::test_demo_sh_is_valid_bash_and_prints_each_step"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "created: 2/2 workers" in r.stdout, r.stdout[-3000:]
    ran = re.findall(r"^\[(gw\d)\] \[\s*\d+%\] PASSED (\S+?)::", r.stdout, flags=re.M)
    assert {f for _, f in ran} == set(files), r.stdout[-3000:]
    for f in files:
        assert len({w for w, g in ran if g == f}) == 1, (f, ran)


def test_slow_files_exist_and_go_first_under_xdist_only():
    from tests import conftest

    assert len(set(conftest.SLOW_FILES)) == len(conftest.SLOW_FILES)
    assert [f for f in conftest.SLOW_FILES if not (REPO / f).is_file()] == []
    ids = ["tests/a.py::t1", f"{conftest.SLOW_FILES[1]}::t2", "tests/b.py::t3", f"{conftest.SLOW_FILES[0]}::t4",
           "tests/a.py::t5"]
    items = [types.SimpleNamespace(nodeid=i) for i in ids]
    conftest.pytest_collection_modifyitems(types.SimpleNamespace(), items)  # the controller / a plain run
    assert [i.nodeid for i in items] == ids
    conftest.pytest_collection_modifyitems(types.SimpleNamespace(workerinput={}), items)  # an xdist worker
    assert [i.nodeid for i in items] == [ids[3], ids[1], ids[0], ids[2], ids[4]]


def test_torch_threads_share_the_cores_among_the_workers():
    from tests.conftest import torch_threads

    assert torch_threads(2, 1) == 2 and torch_threads(2, 2) == 1  # CI: 2 cores, 2 workers, 1 thread each
    assert torch_threads(16, 1) == 2 and torch_threads(1, 1) == 1 and torch_threads(None, 4) == 1


def test_the_fleet_files_are_one_unit_of_work_and_every_other_file_its_own():
    from tests import conftest

    assert [f for f in conftest.SAME_WORKER if not (REPO / f).is_file()] == []
    values = {"dist": "loadfile", "tx": ["2*popen"]}
    config = types.SimpleNamespace(getvalue=values.get)
    sched = conftest.pytest_xdist_make_scheduler(config, None)
    scopes = {sched._split_scope(f"{f}::test_x[1]") for f in conftest.SAME_WORKER}
    assert scopes == {"fleet"}
    assert sched._split_scope("tests/test_show.py::test_x") == "tests/test_show.py"
    values["dist"] = "load"  # any other --dist keeps xdist's own scheduler
    assert conftest.pytest_xdist_make_scheduler(config, None) is None


def test_a_worker_gets_the_terminal_variables_of_the_main_process(monkeypatch):
    from tests import conftest

    monkeypatch.setenv("COLUMNS", "123")
    monkeypatch.delenv("LINES", raising=False)
    node = types.SimpleNamespace(workerinput={})
    conftest.pytest_configure_node(node)  # the main process
    assert node.workerinput["terminal_env"] == {"COLUMNS": "123", "LINES": None}
    monkeypatch.setenv("COLUMNS", "80")  # what readline left in the worker's environment
    monkeypatch.setenv("LINES", "24")
    conftest.pytest_configure(types.SimpleNamespace(workerinput=node.workerinput))  # the worker
    assert os.environ.get("COLUMNS") == "123" and "LINES" not in os.environ
