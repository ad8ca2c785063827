"""``python -m promptc.core.codes [--markdown | CODE]``: print the registry (markdown) or one entry."""

from __future__ import annotations

import sys

from promptc.core.codes import all_codes, explain, lookup, markdown


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    if len(argv) == 1 and lookup(argv[0]) is not None:
        sys.stdout.write(explain(lookup(argv[0])))
        return 0
    if not argv:
        for c in all_codes().values():
            print(f"{c.code}  {c.name}: {c.summary}")
        return 0
    print("usage: python -m promptc.core.codes [--markdown | CODE]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
