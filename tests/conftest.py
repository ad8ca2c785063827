"""Shared fixtures: the bundled model loads once per test session (once per worker under xdist).

``bash scripts/test.sh`` runs the suite in two pytest-xdist workers, a whole file per worker at a time
(``--dist loadfile``: a file's module fixtures -- Ray, SMG, a chromium, a simulator -- start once), in
the order :func:`pytest_collection_modifyitems` gives: the longest files first, so neither worker is
left with a long file at the end while the other idles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


def torch_threads(cpus: int | None, workers: int) -> int:
    """Torch's intra-op threads in one test process: at most two cores, shared among the xdist workers
    (two workers with two threads each on CI's two cores would spin against each other)."""
    return max(1, min(2, cpus or 1) // max(1, workers))


torch.set_num_threads(torch_threads(os.cpu_count(), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

#: The files that take longest (seconds of a sequential run, measured with --durations and --junitxml),
#: longest first. Under xdist they are handed out first; every other file follows in collection order.
#: tests/test_scripts.py checks that each still exists, so a rename cannot silently drop one.
SLOW_FILES = (
    "tests/engine/test_model.py",
    "tests/lint/test_changes.py",
    "tests/deploy/test_ray.py",
    "tests/integrations/test_golden.py",
    "tests/lint/test_oracle_providers.py",
    "tests/lint/test_oracle.py",
    "tests/lint/test_oracle_property.py",
    "tests/engine/test_generation.py",
    "tests/deploy/test_smg.py",
    "tests/engine/test_batching.py",
    "tests/fmt/test_fmt.py",
    "tests/integrations/test_langchain.py",
    "tests/integrations/test_docs.py",
    "tests/engine/test_equivalence.py",
    "tests/test_packaging.py",
)


def slow_rank(nodeid: str) -> int:
    """A test's place in the handing-out order: its file's index in :data:`SLOW_FILES`, after them all
    for any other file."""
    path = nodeid.split("::", 1)[0]
    return SLOW_FILES.index(path) if path in SLOW_FILES else len(SLOW_FILES)


#: Files that must never run at the same time on two workers: each starts engine replicas on a Ray cluster
#: or behind SGLang's gateway (two model loads, about 1 GB, and every core each), so they share one worker.
SAME_WORKER = {f: "fleet" for f in ("tests/deploy/test_ray.py", "tests/deploy/test_ray_cli.py",
                                    "tests/deploy/test_smg.py")}


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the files of :data:`SAME_WORKER` handed out as one unit (xdist's
    loadgroup would rename every test ``id@group``). Any other --dist: xdist's own scheduler."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FileGroupScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return SAME_WORKER.get(path, path)

    return FileGroupScheduling(config, log)


#: What GNU readline exports into the C environment when pytest imports it (``_readline_workaround``):
#: os.environ never shows it in the main process, but an xdist worker is a child and starts with
#: ``COLUMNS=80 LINES=24``, so rich/click output would wrap at 80 columns only under xdist.
TERMINAL_ENV = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist, main process: hand each worker the terminal variables as the user's environment has them."""
    node.workerinput["terminal_env"] = {k: os.environ.get(k) for k in TERMINAL_ENV}


def pytest_configure(config):
    """An xdist worker takes the main process's terminal variables (see :data:`TERMINAL_ENV`), so a test
    sees the environment the suite was started in whichever process runs it."""
    for key, value in getattr(config, "workerinput", {}).get("terminal_env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def pytest_collection_modifyitems(config, items):
    """Under xdist (a worker has ``workerinput``) the longest files are collected first; xdist's
    ``--no-loadscope-reorder`` (scripts/test.sh) keeps that order. A plain run is left as collected."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=lambda item: slow_rank(item.nodeid))  # stable: within a rank, collection order


@pytest.fixture(scope="session")
def smollm_weights():
    from promptc.engine.weights import load_weights

    return load_weights()


@pytest.fixture(scope="session")
def engine(smollm_weights):
    from promptc.engine import Engine

    return Engine(weights=smollm_weights, budget_bytes=1 << 30)


@pytest.fixture(scope="session")
def tokenizers():
    """One tokenizer registry for the test session: each tokenizer loads once."""
    from promptc.tokenizers import TokenizerRegistry

    return TokenizerRegistry()


@pytest.fixture(scope="session")
def build_context(tokenizers):
    """A build context shared by the session's in-process builds (tokenizers load once)."""
    from promptc.compiler.context import BuildContext

    return BuildContext(tokenizers)
