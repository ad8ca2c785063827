"""``python -m promptc.engine.kernels build``: compile the engine's CPU kernel into its cache (scripts/setup.sh).

A failed build prints a note and exits 0: the engine then runs torch's int4 kernel."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from promptc.engine import kernels

    if argv[:1] not in (["build"], ["status"]):
        print("usage: python -m promptc.engine.kernels {build|status}", file=sys.stderr)
        return 2
    if argv[0] == "build":
        try:
            mod = kernels.build(verbose="-v" in argv)
        except Exception as exc:  # noqa: BLE001 - any compiler/toolchain failure is a note, not a setup failure
            print(f"note: the engine's compiled kernel did not build ({type(exc).__name__}: {str(exc)[:300]}); "
                  "int4 uses torch's kernel")
            return 0
        print(f"kernel blockq-{mod.isa()} built in {kernels.cache_dir() / kernels.build_key()}")
        return 0
    print(kernels.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
