"""Issue 9 item 10 and issue 8 defects 8-9: configuration and environment mistakes are coded usage errors.

An empty API key (which would let requests without a key in), a malformed keys file, sizes like
``infGiB`` or ``-1GiB``, non-positive TTLs and limits, a file that is not a model, an engine that is
not running, and a busy port all exit 2 with ``error[E7xx]`` — never "internal error", never a
traceback, never after loading the model.
"""

from __future__ import annotations

import json
import socket
import sys

import pytest

from promptc.core.engine_errors import (EmptyKeyError, InvalidLimit, InvalidSize, KeysFileError, ModelNotFound,
                                   PortUnavailable, UnsupportedModel)
from promptc.engine.limits import ServerConfig, load_api_keys, parse_count, parse_seconds, parse_size
from promptc.engine.serve import bind_socket
from promptc.engine.weights import load_weights
from tests.conftest import REPO


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str]:
    """The real entry point (`promptc.cli.main`), in process: exit code and stderr."""
    from promptc.cli import main

    monkeypatch.setattr(sys, "argv", ["promptc", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


# -- keys -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("content,error,needle", [
    ({"keys": {"": "tenant"}}, EmptyKeyError, "empty"),
    ({"keys": {"   ": "tenant"}}, EmptyKeyError, "empty"),
    ({"keys": {"k1": ""}}, EmptyKeyError, "empty"),
    ({"keys": {}}, KeysFileError, "no API keys"),
    ({"keys": ["k1"]}, KeysFileError, '"keys" object'),
    ([], KeysFileError, '"keys" object'),
    ({"keys": {"k1": 7}}, KeysFileError, "must be strings"),
    ({"keys": {"k 1": "t"}}, KeysFileError, "whitespace"),
    ("{not json", KeysFileError, "not valid JSON"),
])
def test_bad_keys_files_are_refused(tmp_path, monkeypatch, content, error, needle):
    monkeypatch.delenv("PROMPTC_API_KEYS", raising=False)
    path = tmp_path / "keys.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(error, match=needle) as exc:
        load_api_keys(path)
    assert str(exc.value).startswith(f"error[{error.code}]: --keys {path}")


@pytest.mark.parametrize("env,error", [("=tenant", EmptyKeyError), ("key=", EmptyKeyError), ("key", KeysFileError),
                                       ("a=t1,=t2", EmptyKeyError)])
def test_bad_key_environment_is_refused(env, error):
    with pytest.raises(error):
        load_api_keys(None, env=env)


def test_good_keys_merge_file_and_environment(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": {"k1": "alpha"}}))
    assert load_api_keys(path, env="k2=beta, k3 = gamma") == {"k1": "alpha", "k2": "beta", "k3": "gamma"}


def test_an_empty_key_cannot_be_configured_in_python_either():
    with pytest.raises(EmptyKeyError):
        ServerConfig(api_keys={"": "anyone"})


@pytest.mark.parametrize("field", ["max_body_bytes", "max_json_depth", "max_segments", "max_messages",
                                   "max_tokens_limit", "default_max_tokens"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_server_limits_must_be_positive_integers(field, value):
    with pytest.raises(InvalidLimit, match=field):
        ServerConfig(**{field: value})


# -- sizes and durations --------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["infGiB", "inf", "nan", "NaNMiB", "-1GiB", "-5", "lots", "1e400", "2 GiBs",
                                  "", "2PiB0", "9" * 400])
def test_unreadable_or_out_of_range_sizes_are_e701(text):
    with pytest.raises(InvalidSize) as exc:
        parse_size(text, "--budget")
    assert exc.value.code == "E701" and "--budget" in str(exc.value)


@pytest.mark.parametrize("text,expected", [("2GiB", 2 << 30), ("512MiB", 512 << 20), ("1.5GB", 1_500_000_000),
                                           ("1000000", 1_000_000), ("0", 0), (" 64 kib ", 64 << 10)])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("value", ["-5", "0", "inf", "nan", "soon", -1.0])
def test_bad_ttls_are_e702(value):
    with pytest.raises(InvalidLimit):
        parse_seconds(value)


def test_good_ttls():
    assert parse_seconds(None) is None and parse_seconds("90") == 90.0


@pytest.mark.parametrize("value", ["0", "-3", "many", "1e3", str(1 << 40)])
def test_bad_counts_are_e702(value):
    with pytest.raises(InvalidLimit):
        parse_count(value, "--max-segments")


# -- the CLI: exit 2, a code, no "internal error" -------------------------------------------------
@pytest.mark.parametrize("args,code", [
    (["serve", "--budget", "infGiB"], "E701"),
    (["serve", "--budget", "-1GiB"], "E701"),
    (["serve", "--token-cache", "lots"], "E701"),
    (["serve", "--ttl", "-5"], "E702"),
    (["serve", "--ttl", "nan"], "E702"),
    (["serve", "--max-segments", "0"], "E702"),
    (["demo", str(REPO / "examples" / "team"), "--budget", "lots"], "E701"),
])
def test_bad_options_exit_2_with_a_code_before_loading_anything(monkeypatch, capsys, args, code):
    rc, err = run_cli(monkeypatch, capsys, *args)
    assert rc == 2 and f"error[{code}]" in err
    assert "internal error" not in err and "loading" not in err


def test_a_keys_file_with_an_empty_key_stops_serve(tmp_path, monkeypatch, capsys):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": {"": "everyone"}}))
    rc, err = run_cli(monkeypatch, capsys, "serve", "--keys", str(keys))
    assert rc == 2 and "error[E704]" in err


def test_serve_on_a_busy_port_fails_before_loading_the_model(monkeypatch, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortUnavailable, match="in use"):
            bind_socket("127.0.0.1", port)
        rc, err = run_cli(monkeypatch, capsys, "serve", "--port", str(port))
    assert rc == 2 and "error[E707]" in err and "loading the model" not in err


def test_bind_socket_reserves_the_port():
    sock = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(PortUnavailable):
            bind_socket("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()


# -- model files ----------------------------------------------------------------------------------
def test_not_a_model_file_is_e706(tmp_path, monkeypatch, capsys):
    junk = tmp_path / "notamodel.bin"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(UnsupportedModel):
        load_weights(junk)
    rc, err = run_cli(monkeypatch, capsys, "serve", "--model", str(junk), "--port", "0")
    assert rc == 2 and "error[E706]" in err and "internal error" not in err


@pytest.mark.parametrize("content", [b"garbage", b"GGUF" + b"\x00" * 64])
def test_corrupt_gguf_files_are_e706(tmp_path, content):
    f = tmp_path / "broken.gguf"
    f.write_bytes(content)
    with pytest.raises(UnsupportedModel, match="cannot load"):
        load_weights(f)


def test_truncated_gguf_is_e706(tmp_path):
    from promptc.core.locate import default_model_path

    src = default_model_path()
    f = tmp_path / "truncated.gguf"
    with open(src, "rb") as fh:
        f.write_bytes(fh.read(4 << 20))
    with pytest.raises(UnsupportedModel):
        load_weights(f)


def test_unsupported_hf_folder_is_e706(tmp_path, smollm_weights):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 16)
    (tmp_path / "tokenizer.json").write_text(smollm_weights.tokenizer.tok.to_str())
    with pytest.raises(UnsupportedModel, match="gpt2"):
        load_weights(tmp_path)


def test_missing_model_is_e705(tmp_path):
    with pytest.raises(ModelNotFound) as exc:
        load_weights(tmp_path / "nothing-here.gguf")
    assert exc.value.code == "E705"


# -- the client ----------------------------------------------------------------------------------
def test_run_against_an_engine_that_is_not_running_is_e708(monkeypatch, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, err = run_cli(monkeypatch, capsys, "run", str(REPO / "examples" / "team" / "backend.prompt"),
                      "--engine", f"http://127.0.0.1:{port}", "-i", "file=a.py", "-i", "query=hi")
    assert rc == 2 and "error[E708]" in err and "promptc serve" in err and "internal error" not in err


@pytest.mark.parametrize("url", ["ftp://example", "not a url", "http://"])
def test_malformed_engine_urls_are_e709(url):
    from promptc.runtime.engine_client import EngineClient, InvalidEngineURL

    with pytest.raises(InvalidEngineURL):
        EngineClient(url)


def test_no_embedded_model_is_e705(monkeypatch):
    import importlib.metadata

    from promptc.core import locate

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(locate.importlib.metadata, "distribution", missing)
    with pytest.raises(ModelNotFound, match="pip install"):
        locate.default_model_path()


