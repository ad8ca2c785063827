"""The prompt-chunk forward computes the last layer's attention, o-projection and MLP only for the rows
it returns (segment ends, the last position), and caches every row's K/V all the same."""

from __future__ import annotations

import pytest
import torch

from promptc.engine.model import Transformer

from .tiny import tiny_weights


def _ids(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 40000, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("start, rows, positions", [(0, 40, [0, 17, 39]), (25, 30, [29]), (25, 30, [3, 29, 29]),
                                                    (25, 1, [0])])
def test_kept_rows_equal_the_full_forward_and_every_row_is_cached(engine, start, rows, positions):
    """fp32, the bundled model: the logits and hidden states of the returned rows, and the K/V of every row,
    are those of the forward that computes every row to the end (the path tests/engine/test_model.py checks
    against transformers)."""
    model = engine.model
    ids = _ids(start + rows, seed=start + rows)

    def run():
        full, kept = model.new_cache(start + rows), model.new_cache(start + rows)
        if start:
            model.forward(ids[:start], full, 0)
            model.forward(ids[:start], kept, 0)
        ref = model.forward(ids[start:], full, start, all_logits=True)
        logits = model.forward(ids[start:], kept, start, positions=positions)
        hidden = model.forward(ids[start:], kept, start, positions=positions, hidden=True)
        last = model.forward(ids[start:], kept, start)
        return ref, logits, model.logits(hidden), last, full, kept
    ref, logits, from_hidden, last, full, kept = engine.run_on_model_thread(run)
    assert logits.shape == (len(positions), ref.shape[1])
    assert (logits - ref[positions]).abs().max().item() <= 1e-4
    assert (from_hidden - ref[positions]).abs().max().item() <= 1e-4
    assert (last - ref[-1]).abs().max().item() <= 1e-4
    assert torch.equal(full.k, kept.k) and torch.equal(full.v, kept.v)


def test_a_middle_chunk_caches_every_row_and_computes_no_last_layer_output(engine):
    model = engine.model
    ids = _ids(48, seed=3)

    def run():
        full, middle = model.new_cache(48), model.new_cache(48)
        model.forward(ids[:20], full, 0, all_logits=True)  # the same chunks, every row to the end
        model.forward(ids[20:], full, 20, all_logits=True)
        out = model.forward(ids[:20], middle, 0, positions=[], hidden=True)
        model.forward(ids[20:], middle, 20, positions=[], hidden=True)
        return out, full, middle
    out, full, middle = engine.run_on_model_thread(run)
    assert out.shape[0] == 0
    assert torch.equal(full.k, middle.k) and torch.equal(full.v, middle.v)


def test_the_last_layer_runs_its_mlp_for_the_kept_rows_only(smollm_weights):
    """A tiny model whose layers record how many rows reach their MLP: every layer sees the chunk's rows
    except the last, which sees the returned ones (none for a middle chunk)."""
    model = Transformer(tiny_weights(smollm_weights, layers=3))
    seen: list[list[int]] = [[] for _ in model.layers]
    for i, layer in enumerate(model.layers):
        def record(x, f=layer["gate_up"], i=i):
            seen[i].append(x.shape[0])
            return f(x)
        layer["gate_up"] = record
    cache = model.new_cache(64)
    ids = _ids(40, seed=5)
    model.forward(ids[:24], cache, 0, positions=[])
    model.forward(ids[24:], cache, 24, positions=[4, 15])
    model.forward(ids[24:], cache, 24)
    model.forward(ids[24:], cache, 24, all_logits=True)
    assert seen[0] == seen[1] == [24, 16, 16, 16]
    assert seen[2] == [2, 1, 16]  # a middle chunk stops after the last layer's K/V
