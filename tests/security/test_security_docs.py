"""docs/security.md (untrusted .prompt files) states the real defaults and the real codes."""

from __future__ import annotations

import re
from pathlib import Path

from promptc.compiler.config import _INT_KEYS, load_config
from promptc.core.codes import lookup

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _limits_table() -> dict[str, tuple[int, str]]:
    rows = re.findall(r"^\| `(max_\w+)` \| (\d+) \| [^|]+ \| (E\d{3}) \|$", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {k: (int(v), code) for k, v, code in rows}


def test_every_limit_is_documented_with_its_default():
    table = _limits_table()
    assert set(table) == set(_INT_KEYS)
    defaults = load_config(None)  # no pyproject: every default
    values = {"max_file_bytes": defaults.max_file_bytes, "max_import_depth": defaults.max_import_depth,
              **{f"max_template_{k}": getattr(defaults.template_limits, f"max_{k}")
                 for k in ("nesting", "steps", "output", "int_bits")}}
    assert {k: v for k, (v, _) in table.items()} == values


def test_documented_codes_are_registered():
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Untrusted .prompt files")
    section = text[start:]
    codes = set(re.findall(r"\b([EW]8\d\d)\b", section))
    assert codes >= {"E801", "E802", "E803", "E804", "E805", "E806", "E807", "E808", "E809", "E811", "W801"}
    for code in codes:
        assert lookup(code) is not None, code


def test_documented_setting_examples_parse(tmp_path):
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    for block in blocks:
        (tmp_path / "pyproject.toml").write_text(block, encoding="utf-8")
        cfg = load_config(tmp_path)
        assert not cfg.diagnostics, block
