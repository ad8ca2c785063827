"""The serving default (docs/engine.md, "Weight modes"; README "The engine"): `serve`, `demo` and
`run --embedded` use int4 on a CPU and bfloat16 on a GPU unless `--dtype` says otherwise; the
`Engine` class keeps float32, the exact reference."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from promptc import cli as cli_mod
from promptc.engine import Engine
from promptc.engine.runner import serving_dtype

from .tiny import tiny_weights

TEAM = Path(__file__).resolve().parents[2] / "examples" / "team"


def test_the_serving_default_is_int4_on_a_cpu_and_bfloat16_on_a_gpu():
    assert serving_dtype("cpu") == "int4"
    assert serving_dtype("cuda") == serving_dtype("cuda:1") == "bfloat16"


@pytest.mark.parametrize("command", ["run", "serve", "demo"])
def test_dtype_flags_default_to_the_serving_mode_and_say_so(command):
    cmd = cli_mod.cli.get_command(click.Context(cli_mod.cli), command)
    opt = next(p for p in cmd.params if p.name == "dtype")
    assert opt.default is None  # resolved by Engine(dtype=None) on the device it runs on
    assert "default: int4 on a CPU" in opt.help and "float32" in opt.help


def test_engine_none_means_the_serving_mode_and_the_class_default_stays_fp32(smollm_weights):
    w = tiny_weights(smollm_weights, dim=64, layers=1, heads=4, kv_heads=2, seed=2)
    default, ref = Engine(weights=w, dtype=None, device="cpu"), Engine(weights=w, device="cpu")
    try:
        assert default.dtype_name == "int4" and default.model.mode == "int4"
        assert ref.dtype_name == "float32" and default.fingerprint != ref.fingerprint
    finally:
        default.close()
        ref.close()


def test_run_embedded_without_dtype_passes_the_serving_default(monkeypatch):
    seen = {}

    class FakeEngine:
        def __init__(self, *a, **kw):
            seen.update(kw)

    class FakeClient:
        def __init__(self, engine):
            pass

        def run(self, request, **kw):
            raise SystemExit(0)

    monkeypatch.setattr("promptc.engine.Engine", FakeEngine, raising=False)
    monkeypatch.setattr("promptc.runtime.engine_client.EmbeddedClient", FakeClient)
    CliRunner().invoke(cli_mod.cli, ["run", str(TEAM / "backend.prompt"), "-i", "file=a.py", "-i", "query=q",
                                     "--embedded"])
    assert "dtype" in seen and seen["dtype"] is None
    CliRunner().invoke(cli_mod.cli, ["run", str(TEAM / "backend.prompt"), "-i", "file=a.py", "-i", "query=q",
                                     "--embedded", "--dtype", "float32"])
    assert seen["dtype"] == "float32"
