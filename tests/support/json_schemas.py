"""JSON Schemas of the ``--json`` documents (README, JSON output), for the tests to hold
every emitted document to: a consumer in C# or LabVIEW codes against these fields."""

from __future__ import annotations

from typing import Any

_ERROR: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["kind", "message"],
    "properties": {"kind": {"type": "string"}, "message": {"type": "string"}},
}
_NUM_OR_NULL = {"type": ["number", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}


def _document(schema: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["schema", "exit_code", "error", *required],
        "properties": {
            "schema": {"const": schema},
            "exit_code": {"type": "integer"},
            "error": _ERROR,
            **properties,
        },
    }


FILE = {
    "type": "object",
    "required": [
        "source",
        "status",
        "output",
        "exit_code",
        "source_bytes",
        "output_bytes",
        "seconds",
        "error",
        "provenance_id",
    ],
    "properties": {
        "source": {"type": "string"},
        "status": {"enum": ["converted", "up-to-date", "skipped", "failed"]},
        "output": {"type": ["string", "null"]},
        "exit_code": {"type": "integer"},
        "source_bytes": _INT_OR_NULL,
        "output_bytes": _INT_OR_NULL,
        "seconds": {
            "type": "object",
            "required": ["total", "prepare", "write"],
            "properties": {"total": _NUM_OR_NULL, "prepare": _NUM_OR_NULL, "write": _NUM_OR_NULL},
        },
        "error": _ERROR,
        "provenance_id": {"type": ["string", "null"]},
    },
}

CONVERT = _document(
    "emdconvert.convert/1",
    ["files", "summary"],
    {
        "files": {"type": "array", "items": FILE},
        "summary": {
            "type": "object",
            "required": ["converted", "up_to_date", "failed", "skipped", "seconds"],
            "properties": {
                "converted": {"type": "integer"},
                "up_to_date": {"type": "integer"},
                "failed": {"type": "integer"},
                "skipped": {"type": "integer"},
                "seconds": {"type": "number"},
            },
        },
    },
)

DIM = {
    "type": "object",
    "required": ["name", "units", "size", "offset", "scale", "uniform", "values"],
    "properties": {
        "name": {"type": "string"},
        "units": {"type": "string"},
        "size": {"type": "integer"},
        "offset": _NUM_OR_NULL,
        "scale": _NUM_OR_NULL,
        "uniform": {"type": "boolean"},
        "values": {
            "type": ["object", "null"],
            "required": ["first", "last", "min", "max"],
        },
    },
}

INFO = _document(
    "emdconvert.info/1",
    ["file"],
    {
        "file": {"type": "string"},
        "format": {"type": "string"},
        "file_bytes": {"type": "integer"},
        "datasets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "shape", "dtype", "units", "dims", "attrs"],
                "properties": {
                    "name": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer"}},
                    "dtype": {"type": "string"},
                    "units": {"type": "string"},
                    "dims": {"type": "array", "items": DIM},
                    "attrs": {"type": "object"},
                },
            },
        },
        "metadata": {
            "type": "object",
            "required": ["microscope", "sample", "user"],
            "additionalProperties": {"type": "object"},
        },
        "comments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "message", "provenance"],
                "properties": {
                    "key": {"type": "string"},
                    "message": {"type": "string"},
                    "provenance": {"type": ["object", "null"]},
                },
            },
        },
    },
)

VALIDATE = _document(
    "emdconvert.validate/1",
    ["valid", "files"],
    {
        "valid": {"type": "boolean"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "valid", "problems", "error"],
                "properties": {
                    "path": {"type": "string"},
                    "valid": {"type": "boolean"},
                    "error": _ERROR,
                    "problems": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["rule", "level", "where", "message"],
                            "properties": {
                                "rule": {"type": "integer"},
                                "level": {"enum": ["MUST", "SHOULD"]},
                                "where": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
)

FORMATS = _document(
    "emdconvert.formats/1",
    ["formats"],
    {
        "formats": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "extensions", "read", "write", "module", "class"],
                "properties": {
                    "name": {"type": "string"},
                    "extensions": {"type": "array", "items": {"type": "string"}},
                    "read": {"type": "boolean"},
                    "write": {"type": "boolean"},
                    "module": {"type": "string"},
                    "class": {"type": "string"},
                    "provided_by": {"type": "string"},
                    "description": {"type": "string"},
                },
            },
        }
    },
)

BY_NAME = {s["properties"]["schema"]["const"]: s for s in (CONVERT, INFO, VALIDATE, FORMATS)}
