"""Load Llama-family weights from GGUF (dequantized with ``gguf``) or a Hugging Face safetensors folder.

Both loaders return a :class:`LoadedWeights` with tensors under Hugging Face names and in Hugging
Face layout, so :mod:`promptc.engine.model` has one code path. GGUF stores Q/K rows permuted for
llama.cpp's interleaved RoPE; we un-permute them to the rotate-half layout (reference/smollm2.md §7.2).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from promptc.tokenizers.hf import HFBackedTokenizer, load_gguf_tokenizer, load_tokenizer_json

from promptc.core.engine_errors import ModelNotFound, UnsupportedModel
from promptc.core.locate import default_model_path

@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters of a Llama-family decoder."""

    arch: str
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_dim: int
    rope_theta: float
    norm_eps: float
    max_seq_len: int
    tie_embeddings: bool
    qkv_bias: bool = False

    def rope_digest(self) -> str:
        return f"rope:theta={self.rope_theta}:hd={self.head_dim}:rotate_half"


@dataclass
class LoadedWeights:
    config: ModelConfig
    tensors: dict[str, torch.Tensor]
    tokenizer: HFBackedTokenizer
    chat_template: str
    eos_token_ids: tuple[int, ...]
    weights_digest: str
    source: str
    name: str


def file_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


def load_weights(path: str | Path | None = None) -> LoadedWeights:
    """Load a model from a ``.gguf`` file or a Hugging Face folder; the embedded model by default."""
    p = Path(path) if path else default_model_path()
    if not p.exists():
        raise ModelNotFound(f"no model at {p}", hint="pass a .gguf file or a folder with config.json, *.safetensors "
                                                     "and tokenizer.json")
    if p.is_dir():
        return _user_errors(p, load_safetensors_folder)
    if p.is_file() and p.suffix == ".gguf":
        return _user_errors(p, load_gguf)
    raise UnsupportedModel("--model", f"{p} is not a model: expected a .gguf file or a Hugging Face folder",
                           hint="pass a .gguf file or a folder with config.json, *.safetensors and tokenizer.json")


def _user_errors(p: Path, loader) -> LoadedWeights:
    """Run a loader; a file that is not what its name promises becomes a coded E706 error, not a traceback."""
    try:
        return loader(p)
    except (ModelNotFound, UnsupportedModel):
        raise
    except Exception as exc:  # noqa: BLE001 - the file is untrusted input; every parser failure is the file's
        # gguf raises ValueError on a bad magic and numpy errors on truncation; safetensors and tokenizers
        # raise their own Exception subclasses; json raises ValueError.
        raise UnsupportedModel("--model", f"cannot load {p}: {type(exc).__name__}: {exc}",
                               hint="promptc loads Llama-family (llama, qwen2, mistral) GGUF files and "
                                    "Hugging Face safetensors folders") from None


def _unpermute(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """llama.cpp interleaved-pair rows → Hugging Face rotate-half rows."""
    out_dim = w.shape[0]
    hd = out_dim // n_head
    rest = w.shape[1:]
    return w.reshape(n_head, hd // 2, 2, *rest).transpose(1, 2).reshape(out_dim, *rest).contiguous()


_GGUF_NAMES = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}


def load_gguf(path: Path) -> LoadedWeights:
    import gguf

    reader = gguf.GGUFReader(str(path))

    def meta(key, default=None):
        f = reader.fields.get(key)
        if f is None:
            return default
        v = f.parts[f.data[0]]
        if f.types and f.types[0] == gguf.GGUFValueType.STRING:
            return bytes(v).decode("utf-8")
        return v.tolist()[0] if hasattr(v, "tolist") else v

    arch = meta("general.architecture")
    if arch not in ("llama", "qwen2"):
        raise UnsupportedModel("--model", f"{path}: unsupported GGUF architecture {arch!r}",
                               hint="supported architectures: llama, qwen2")
    n_heads = int(meta(f"{arch}.attention.head_count"))
    n_kv = int(meta(f"{arch}.attention.head_count_kv", n_heads))
    dim = int(meta(f"{arch}.embedding_length"))
    tensors: dict[str, torch.Tensor] = {}
    for t in reader.tensors:
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        arr = np.array(arr, dtype=np.float32, copy=True).reshape(tuple(reversed([int(x) for x in t.shape])))
        w = torch.from_numpy(arr)
        name = t.name
        if name == "token_embd.weight":
            tensors["model.embed_tokens.weight"] = w
        elif name == "output_norm.weight":
            tensors["model.norm.weight"] = w
        elif name == "output.weight":
            tensors["lm_head.weight"] = w
        elif name.startswith("blk."):
            _, idx, part, kind = name.split(".", 3)
            hf = f"model.layers.{idx}.{_GGUF_NAMES[part]}.{kind}"
            if part == "attn_q":
                w = _unpermute(w, n_heads)
            elif part == "attn_k":
                w = _unpermute(w, n_kv)
            tensors[hf] = w
    vocab = tensors["model.embed_tokens.weight"].shape[0]
    cfg = ModelConfig(
        arch=arch, vocab_size=vocab, dim=dim, n_layers=int(meta(f"{arch}.block_count")), n_heads=n_heads,
        n_kv_heads=n_kv, head_dim=dim // n_heads, ffn_dim=int(meta(f"{arch}.feed_forward_length")),
        rope_theta=float(meta(f"{arch}.rope.freq_base", 10000.0)),
        norm_eps=float(meta(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)),
        max_seq_len=int(meta(f"{arch}.context_length", 2048)), tie_embeddings="lm_head.weight" not in tensors,
        qkv_bias="model.layers.0.self_attn.q_proj.bias" in tensors)
    tokenizer = load_gguf_tokenizer(path, id_="gguf:" + path.stem)
    eos = int(meta("tokenizer.ggml.eos_token_id", 2))
    eos_ids = tuple(sorted({eos} | {i for i in (tokenizer.tok.token_to_id("<|endoftext|>"),
                                                 tokenizer.tok.token_to_id("<|im_end|>")) if i is not None}))
    return LoadedWeights(cfg, tensors, tokenizer, meta("tokenizer.chat_template", "") or "", eos_ids,
                         file_digest([path]), str(path), str(meta("general.name", path.stem)))


def load_safetensors_folder(folder: Path) -> LoadedWeights:
    """``config.json`` + ``*.safetensors`` + ``tokenizer.json`` (+ optional ``tokenizer_config.json``)."""
    from safetensors.torch import load_file

    cfg_path = folder / "config.json"
    files = sorted(folder.glob("*.safetensors"))
    if not cfg_path.is_file() or not files or not (folder / "tokenizer.json").is_file():
        raise ModelNotFound(f"{folder} needs config.json, *.safetensors and tokenizer.json",
                            hint="a Hugging Face model folder saved with safe_serialization=True")
    c = json.loads(cfg_path.read_text())
    arch = c.get("model_type", "llama")
    if arch not in ("llama", "qwen2", "mistral"):
        raise UnsupportedModel("--model", f"{cfg_path}: unsupported model_type {arch!r}",
                               hint="supported: llama, qwen2, mistral")
    tensors: dict[str, torch.Tensor] = {}
    for f in files:
        for k, v in load_file(str(f)).items():
            tensors[k] = v.to(torch.float32)
    n_heads = c["num_attention_heads"]
    dim = c["hidden_size"]
    tie = bool(c.get("tie_word_embeddings", False)) or "lm_head.weight" not in tensors
    cfg = ModelConfig(
        arch=arch, vocab_size=c["vocab_size"], dim=dim, n_layers=c["num_hidden_layers"], n_heads=n_heads,
        n_kv_heads=c.get("num_key_value_heads", n_heads), head_dim=c.get("head_dim") or dim // n_heads,
        ffn_dim=c["intermediate_size"], rope_theta=float(c.get("rope_theta", 10000.0)),
        norm_eps=float(c.get("rms_norm_eps", 1e-5)), max_seq_len=int(c.get("max_position_embeddings", 2048)),
        tie_embeddings=tie, qkv_bias="model.layers.0.self_attn.q_proj.bias" in tensors)
    if c.get("rope_scaling"):
        raise UnsupportedModel("--model", f"{cfg_path}: rope_scaling is not supported yet")
    tokenizer = load_tokenizer_json(folder / "tokenizer.json", id_=f"hf:{folder.name}")
    chat_template, eos_ids = "", ()
    tc = folder / "tokenizer_config.json"
    if tc.is_file():
        tcfg = json.loads(tc.read_text())
        chat_template = tcfg.get("chat_template") or ""
        eos_tok = tcfg.get("eos_token")
        if isinstance(eos_tok, dict):
            eos_tok = eos_tok.get("content")
        if eos_tok and tokenizer.tok.token_to_id(eos_tok) is not None:
            eos_ids = (tokenizer.tok.token_to_id(eos_tok),)
    if not eos_ids:
        e = c.get("eos_token_id")
        eos_ids = tuple(e) if isinstance(e, list) else ((e,) if e is not None else ())
    return LoadedWeights(cfg, tensors, tokenizer, chat_template, eos_ids,
                         file_digest(files + [cfg_path, folder / "tokenizer.json"]), str(folder), folder.name)
