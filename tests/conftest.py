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
