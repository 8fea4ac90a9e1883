"""A small AT Protocol lexicon checker: every request and response a Bluesky test builds is validated with it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from tests.support.paths import FIXTURES_DIR

LEXICONS = FIXTURES_DIR / "bluesky" / "lexicons"
RESPONSES = LEXICONS.parent / "responses"


class LexiconError(AssertionError):
    """A value does not have the shape its lexicon publishes."""


@cache
def lexicon(nsid: str) -> dict[str, Any]:
    """The lexicon document for `nsid`."""
    return dict(json.loads((LEXICONS / f"{nsid}.json").read_text()))


def _resolve(ref: str, nsid: str) -> tuple[dict[str, Any], str]:
    doc_id, _, name = ref.partition("#") if not ref.startswith("#") else (nsid, "#", ref[1:])
    doc_id = doc_id or nsid
    if not (LEXICONS / f"{doc_id}.json").exists():
        return {"type": "unknown"}, doc_id  # a lexicon outside the stored set: accept the value
    return lexicon(doc_id)["defs"][name or "main"], doc_id


def check(schema: Mapping[str, Any], value: Any, nsid: str, where: str = "$") -> None:
    """Raise `LexiconError` where `value` breaks `schema` (defined in lexicon `nsid`)."""
    kind = schema.get("type")
    if kind == "ref":
        target, doc = _resolve(str(schema["ref"]), nsid)
        return check(target, value, doc, where)
    if kind == "union":
        if not isinstance(value, Mapping) or "$type" not in value:
            raise LexiconError(f"{where}: a union member needs $type")
        wanted = str(value["$type"])
        refs = [r if not r.startswith("#") else f"{nsid}{r}" for r in schema.get("refs", [])]
        full = wanted if "#" in wanted else f"{wanted}#main"
        if schema.get("closed") and full not in {r if "#" in r else f"{r}#main" for r in refs}:
            raise LexiconError(f"{where}: $type {wanted} is not one of {refs}")
        target, doc = _resolve(wanted, nsid)
        return check(target, value, doc, where)
    if kind in ("object", "params"):
        if not isinstance(value, Mapping):
            raise LexiconError(f"{where}: expected an object")
        for name in schema.get("required", []):
            if name not in value:
                raise LexiconError(f"{where}: {name} is required")
        for name, sub in schema.get("properties", {}).items():
            if name in value and value[name] is not None:
                check(sub, value[name], nsid, f"{where}.{name}")
        return None
    if kind == "record":
        return check(schema["record"], value, nsid, where)
    if kind == "array":
        items = value if isinstance(value, list) else [value] if schema.get("_param") else None
        if items is None:
            raise LexiconError(f"{where}: expected an array")
        if "maxLength" in schema and len(items) > schema["maxLength"]:
            raise LexiconError(f"{where}: more than {schema['maxLength']} items")
        for i, item in enumerate(items):
            check(schema["items"], item, nsid, f"{where}[{i}]")
        return None
    _scalar(kind, schema, value, where)
    return None


def _scalar(kind: Any, schema: Mapping[str, Any], value: Any, where: str) -> None:
    if kind == "string":
        if not isinstance(value, str):
            raise LexiconError(f"{where}: expected a string")
        if "maxGraphemes" in schema and len(value) > int(schema["maxGraphemes"]) * 4:
            raise LexiconError(f"{where}: too long")
        if "maxLength" in schema and len(value.encode()) > int(schema["maxLength"]):
            raise LexiconError(f"{where}: longer than {schema['maxLength']} bytes")
        if schema.get("format") == "at-uri" and not value.startswith("at://"):
            raise LexiconError(f"{where}: not an at:// URI")
        if schema.get("format") == "did" and not value.startswith("did:"):
            raise LexiconError(f"{where}: not a DID")
        if "enum" in schema and value not in schema["enum"]:
            raise LexiconError(f"{where}: {value!r} not in {schema['enum']}")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise LexiconError(f"{where}: expected an integer")
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            raise LexiconError(f"{where}: {value} out of range")
    elif kind == "boolean" and not isinstance(value, bool):
        raise LexiconError(f"{where}: expected a boolean")


def check_params(nsid: str, params: Mapping[str, Any]) -> None:
    """Validate a query's parameters; unknown parameters are refused."""
    schema = lexicon(nsid)["defs"]["main"].get("parameters") or {"type": "params", "properties": {}}
    unknown = set(params) - set(schema.get("properties", {}))
    if unknown:
        raise LexiconError(f"{nsid}: unknown parameters {sorted(unknown)}")
    props = {k: {**v, "_param": True} if v.get("type") == "array" else v for k, v in schema["properties"].items()}
    coerced = {k: (int(v) if props[k].get("type") == "integer" else
                   v == "true" if props[k].get("type") == "boolean" else v) for k, v in params.items()}
    check({**schema, "properties": props}, coerced, nsid, nsid)


def check_input(nsid: str, body: Any) -> None:
    """Validate a procedure's JSON input."""
    check(lexicon(nsid)["defs"]["main"]["input"]["schema"], body, nsid, f"{nsid} input")


def check_output(nsid: str, body: Any) -> None:
    """Validate a call's JSON output."""
    check(lexicon(nsid)["defs"]["main"]["output"]["schema"], body, nsid, f"{nsid} output")


def recorded(name: str) -> Any:
    """A real response from the SDK's test data."""
    return json.loads((RESPONSES / name).read_text())
