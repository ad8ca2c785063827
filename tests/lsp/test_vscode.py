"""The VS Code extension: editors/vscode/scripts/build.sh runs the grammar tests (vscode-tmgrammar-test)
and packages the .vsix with @vscode/vsce; this test runs it and checks the package's manifest.

The first run installs the pinned npm packages into editors/vscode/node_modules (git-ignored; later
runs reuse it). Needs node and npm (CI installs them).
"""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[2] / "editors" / "vscode"

# node and npm are required (scripts/test.sh installs Debian's when missing): a missing one fails, never skips


@pytest.fixture(scope="module")
def vsix(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("vsix") / "promptc.vsix"
    run = subprocess.run([str(EXT / "scripts" / "build.sh"), str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return out, run.stdout + run.stderr


def test_grammar_tests_ran_and_passed(vsix):
    _, log = vsix
    assert re.search(r"grammar\.promptc-test run successfu", log), log[-2000:]


def test_vsix_manifest(vsix):
    path, _ = vsix
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        manifest = z.read("extension.vsixmanifest").decode("utf-8")
        package = json.loads(z.read("extension/package.json"))
    source = json.loads((EXT / "package.json").read_text(encoding="utf-8"))
    assert f'Id="{source["name"]}"' in manifest and f'Version="{source["version"]}"' in manifest
    assert f'Publisher="{source["publisher"]}"' in manifest
    assert 'Microsoft.VisualStudio.Code.Engine" Value="{}"'.format(source["engines"]["vscode"]) in manifest
    lang = package["contributes"]["languages"][0]
    assert lang["id"] == "promptc" and ".prompt" in lang["extensions"]
    assert "extension/" + lang["configuration"].removeprefix("./") in names
    grammar = package["contributes"]["grammars"][0]
    assert grammar["scopeName"] == "source.promptc" and "extension/" + grammar["path"].removeprefix("./") in names
    assert "extension/" + package["main"].removeprefix("./") in names
    # the client library ships inside the package (a runtime dependency); the build tools do not
    assert "extension/node_modules/vscode-languageclient/package.json" in names
    assert not any("node_modules/@vscode/vsce/" in n or "node_modules/vscode-tmgrammar-test/" in n for n in names)
    assert not any(n.startswith("extension/tests/") or n.startswith("extension/scripts/") for n in names)
    assert package["contributes"]["configuration"]["properties"]["promptc.server.command"]["default"] == ["promptc",
                                                                                                          "lsp"]
