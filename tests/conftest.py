"""Shared fixtures: the bundled model loads once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


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
