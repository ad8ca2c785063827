"""Input types → JSON Schema (tools) and → pydantic validators (bind time)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

_JSON_TYPES = {"string": "string", "int": "integer", "float": "number", "bool": "boolean"}
_PY_TYPES = {"string": str, "int": int, "float": float, "bool": bool}


def json_schema(spec: dict, description: str | None = None) -> dict:
    """Canonical JSON Schema of a type spec (see ``TypeRef.to_spec``)."""
    t = spec["type"]
    if t in _JSON_TYPES:
        out: dict[str, Any] = {"type": _JSON_TYPES[t]}
    elif t == "enum":
        out = {"enum": list(spec["choices"]), "type": "string"}
    elif t == "list":
        out = {"items": json_schema(spec["items"]), "type": "array"}
    else:
        out = object_schema([(n, s, None) for n, s in spec["fields"]])
    if description:
        out["description"] = description
    return out


def object_schema(fields: list[tuple[str, dict, str | None]]) -> dict:
    return {
        "additionalProperties": False,
        "properties": {name: json_schema(s, d) for name, s, d in fields},
        "required": [name for name, s, _ in fields if not s.get("optional")],
        "type": "object",
    }


def tool_schema(name: str, description: str | None, params: list[tuple[str, dict, str | None]]) -> dict:
    """Provider-neutral tool definition: name, description, JSON Schema parameters."""
    return {"description": description or "", "name": name, "parameters": object_schema(params)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


def python_type(spec: dict, name: str = "Value"):
    t = spec["type"]
    if t in _PY_TYPES:
        base: Any = _PY_TYPES[t]
        if t == "float":
            base = float
    elif t == "enum":
        base = Literal[tuple(spec["choices"])]  # type: ignore[valid-type]
    elif t == "list":
        base = list[python_type(spec["items"], name + "Item")]  # type: ignore[misc]
    else:
        fields = {}
        for fname, fspec in spec["fields"]:
            ft = python_type(fspec, name + "_" + fname)
            fields[fname] = (ft, None) if fspec.get("optional") else (ft, ...)
        base = create_model(name, __base__=_Strict, **fields)
    if spec.get("optional"):
        return Optional[base]
    return base


def inputs_model(name: str, inputs: list[dict]) -> type[BaseModel]:
    """A pydantic model validating a set of inputs (each ``{"name", "type", "default"?, "doc"?}``)."""
    fields: dict[str, Any] = {}
    for inp in inputs:
        pt = python_type(inp["type"], f"{name}_{inp['name']}")
        if inp.get("has_default"):
            default = inp.get("default")
        elif inp["type"].get("optional"):
            default = None
        else:
            default = ...
        fields[inp["name"]] = (pt, Field(default, description=inp.get("doc")))
    return create_model(name, __base__=_Strict, **fields)


def sample_value(spec: dict, name: str) -> Any:
    """A plausible value of an input type, for an input nobody gave (``promptc demo``, the golden wire
    fixtures of ``promptc test``, the editor's render preview): one choice, so all three agree."""
    t = spec["type"]
    if t == "string":
        return f"example {name}"
    if t in ("int", "float"):
        return 1
    if t == "bool":
        return True
    if t == "enum":
        return spec["choices"][0]
    if t == "list":
        return []
    return {fname: sample_value(fspec, fname) for fname, fspec in spec.get("fields", []) if not fspec.get("optional")}
