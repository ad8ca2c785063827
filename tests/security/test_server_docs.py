"""docs/security.md's "Shared engine" section agrees with the code: limits, defaults, flags and codes."""

from __future__ import annotations

import re

import pytest

from promptc.cli import serve
from promptc.core.codes.engine import ENGINE_CODES
from promptc.engine.limits import ServerConfig, parse_size
from promptc.engine.runner import Engine
from tests.conftest import REPO

CODES = {c.code: c.summary for c in ENGINE_CODES}

DOC = (REPO / "docs" / "security.md").read_text(encoding="utf-8")


def _table(after: str) -> list[list[str]]:
    section = DOC[DOC.index(after):]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not set(cells[0]) <= {"-", " "}:
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header


LIMITS = _table("### Limits and how to change them")


def test_every_server_config_field_is_documented_with_its_default():
    documented = {}
    for limit, default, flag, field in LIMITS:
        for name in re.findall(r"ServerConfig\.(\w+)", field):
            documented[name] = default
    config = ServerConfig()
    for name in ("max_body_bytes", "max_json_depth", "max_segments", "max_messages", "max_tokens_limit",
                 "default_max_tokens"):
        assert name in documented, name
        default = documented[name]
        assert parse_size(default) == getattr(config, name), (name, default)


def test_documented_flags_exist_with_the_documented_defaults():
    options = {o.opts[0]: o for o in serve.params if o.opts and o.opts[0].startswith("--")}
    for limit, default, flag, field in LIMITS:
        for name in re.findall(r"^`(--[a-z-]+)", flag):  # the row's own flag (not one it mentions)
            assert name in options, name
            opt_default = options[name].default
            if default == "none":
                assert opt_default is None
            else:
                assert parse_size(str(opt_default)) == parse_size(default), (name, opt_default, default)


def test_engine_defaults_match_the_doc():
    import inspect

    params = inspect.signature(Engine.__init__).parameters
    docs = {re.search(r"Engine\((\w+)=", field).group(1): default for _, default, _, field in LIMITS
            if "Engine(" in field}
    assert parse_size(docs["budget_bytes"]) == params["budget_bytes"].default
    assert parse_size(docs["token_cache_bytes"]) == params["token_cache_bytes"].default
    assert docs["ttl_s"] == "none" and params["ttl_s"].default is None


def test_every_configuration_error_code_is_documented():
    rows = {code: meaning for code, meaning in _table("### Configuration errors")}
    assert set(rows) == set(CODES)


@pytest.mark.parametrize("code", sorted(CODES))
def test_error_classes_carry_their_codes(code):
    import promptc.core.engine_errors as errors
    import promptc.runtime.engine_client as client

    classes = [c for m in (errors, client) for c in vars(m).values()
               if isinstance(c, type) and getattr(c, "code", None) == code]
    assert classes, code
