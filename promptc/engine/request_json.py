"""Parse an untrusted request body into JSON the server's models can safely validate.

Every way a body can be malformed is a :class:`BodyError` (the server answers 400), never an
exception that surfaces as a 500: invalid UTF-8, invalid JSON, integers longer than Python's
4,300-digit conversion limit, nesting deeper than the server's limit (checked without recursion),
``NaN``/``Infinity`` literals, and lone UTF-16 surrogates (``"\\ud800"``) in any string or key, which
could not be hashed, tokenized or echoed back as UTF-8.
"""

from __future__ import annotations

import json
import math


class BodyError(ValueError):
    """The body is not acceptable JSON; ``param`` is the JSON path at fault when there is one."""

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_json"):
        super().__init__(message)
        self.param, self.code = param, code


def _no_constants(name: str):
    raise BodyError(f"request body is not valid JSON: {name} is not a JSON number")


def parse_body(raw: bytes, max_depth: int) -> object:
    """Decode and check a request body; raises :class:`BodyError`."""
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except BodyError:
        raise
    except RecursionError:
        raise BodyError(f"request body nests deeper than {max_depth} levels", code="too_deep") from None
    except UnicodeDecodeError:
        raise BodyError("request body is not valid UTF-8 JSON") from None
    except ValueError as exc:  # JSONDecodeError, and int conversion beyond 4,300 digits
        raise BodyError(f"request body is not valid JSON: {_short(str(exc))}") from None
    check_tree(data, max_depth)
    return data


def _short(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n] + "…"


def _path(parts: tuple) -> str:
    return ".".join(str(p) for p in parts) or None


def _check_string(s: str, parts: tuple, what: str) -> None:
    if s.isascii():
        return
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BodyError(f"invalid request: {_path(parts) or 'body'}: {what} contains a lone UTF-16 surrogate at "
                        f"index {exc.start} (not valid Unicode text)", param=_path(parts),
                        code="invalid_value") from None


def check_tree(data: object, max_depth: int) -> None:
    """Depth, surrogates and non-finite floats, checked iteratively (a deep body cannot overflow the stack)."""
    stack: list[tuple[object, tuple, int]] = [(data, (), 0)]
    while stack:
        value, parts, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= max_depth:
                raise BodyError(f"request body nests deeper than {max_depth} levels", param=_path(parts),
                                code="too_deep")
            if isinstance(value, dict):
                for k, v in value.items():
                    _check_string(k, parts + (k,), "a key")
                    stack.append((v, parts + (k,), depth + 1))
            else:
                stack.extend((v, parts + (i,), depth + 1) for i, v in enumerate(value))
        elif isinstance(value, str):
            _check_string(value, parts, "the string")
        elif isinstance(value, float) and not math.isfinite(value):
            raise BodyError(f"invalid request: {_path(parts) or 'body'}: number out of range", param=_path(parts),
                            code="invalid_value")
