"""The engine's compiled CPU kernel: block-quantized linear layers in llama.cpp's style.

``blockq.cpp`` multiplies 4-bit (GGUF Q4_1) or 8-bit (GGUF Q8_0) weights in 32-value blocks by
activations quantized per 32-value block to int8 at call time, with int8 dot products (AVX-512 VNNI,
AVX2, or a portable scalar loop, whichever the build machine has). torch ships no CPU kernel that
multiplies int8 activations by 4-bit weights, so it is compiled here (torch.utils.cpp_extension + ninja).

The build goes to a cache directory keyed by the source's hash, the torch version and the CPU's
flags (``-march=native``), never into the checkout: ``$PROMPTC_KERNEL_CACHE`` or
``~/.cache/promptc/kernels``. ``python -m promptc.engine.kernels build`` (run by scripts/setup.sh)
builds it once; at run time :func:`load` only imports a prebuilt kernel and returns ``None`` when
there is none (the engine then uses torch's int4 kernel and says so). ``PROMPTC_KERNEL=off`` turns
it off.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import platform
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("blockq.cpp")
BLOCK = 32  # values per quantization block (GGUF Q4_1 / Q8_0)
TILE = 16  # output features per kernel tile (one AVX-512 lane each)
# -fopenmp: at::parallel_for is a header template that runs its range on the calling thread unless the
# extension itself is compiled with OpenMP (it then joins the libgomp torch already loaded, so --threads holds)
CFLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fopenmp"]
LDFLAGS = ["-fopenmp"]


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.machine() + " " + platform.processor()


@functools.cache  # per process: the source, torch and the CPU do not change under a running engine
def build_key() -> str:
    """Hash of everything the binary depends on: source, compiler flags, torch version, CPU flags."""
    import torch

    h = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(CFLAGS + LDFLAGS).encode(), torch.__version__.encode(),
                 sys.version.encode(), _cpu_flags().encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    root = os.environ.get("PROMPTC_KERNEL_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "promptc" / "kernels"


def _name(key: str) -> str:
    return f"promptc_blockq_{key}"


def _built_path(key: str) -> Path | None:
    d = cache_dir() / key
    hits = sorted(d.glob(_name(key) + "*.so")) + sorted(d.glob(_name(key) + "*.pyd"))
    return hits[0] if hits else None


def build(verbose: bool = False):
    """Compile the kernel into the cache (a no-op when it is there); returns the loaded module.

    Concurrent builders (parallel test processes) serialise on a lock file in the cache directory."""
    import fcntl

    from torch.utils.cpp_extension import load as cpp_load

    key = build_key()
    d = cache_dir() / key
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _built_path(key) is None:
            cpp_load(name=_name(key), sources=[str(SOURCE)], extra_cflags=CFLAGS, extra_ldflags=LDFLAGS,
                     build_directory=str(d), verbose=verbose, is_python_module=True)
    path = _built_path(key)
    if path is None:
        raise RuntimeError(f"the kernel built in {d} but its module file is missing")
    return _import(str(path), key)


@functools.cache  # one import per built file and process: the loaded extension is immutable
def _import(path: str, key: str):
    import torch  # noqa: F401 - the extension links against torch's libraries, which must be loaded first

    spec = importlib.util.spec_from_file_location(_name(key), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def enabled() -> bool:
    return os.environ.get("PROMPTC_KERNEL", "on").lower() not in ("off", "0", "no", "false")


def load():
    """The prebuilt kernel module, or ``None`` (not built for this source/torch/CPU, or turned off)."""
    if not enabled():
        return None
    try:
        key = build_key()
        path = _built_path(key)
        return None if path is None else _import(str(path), key)
    except (OSError, ImportError):  # a stale or foreign binary in the cache: use torch's path
        return None


def describe() -> str:
    """Which int4 kernel the engine uses here: ``blockq-<isa>`` or torch's."""
    mod = load()
    return f"blockq-{mod.isa()}" if mod is not None else "torch-int4pack"
