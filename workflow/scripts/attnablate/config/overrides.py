"""Command-line overrides (`snakemake --config key=value`), typed as the config schema says.

Snakemake reads a nested ``--config`` value with YAML's base loader, which keeps every scalar a
string: ``seeds=[1,2]`` arrives as ``["1", "2"]`` and ``train={max_steps: 100}`` as
``{"max_steps": "100"}``, which the schema would then reject with a type the user never wrote.
Each overridden scalar the schema types as a number or boolean is read again as YAML here;
anything else is left for the schema to judge.

Whole numbers written as floats (``seeds: [1.0]``, ``budgets: [20.0]``) where the schema asks for
an integer are integers here, in every config (the schema's integer type lets them through, and
they would name folders and keys as ``seed1.0``); other floats there are left for the schema to
refuse.
"""

import functools

import yaml

SCALAR_TYPES = {"integer": int, "number": (int, float), "boolean": bool}


@functools.cache
def _schema(path: str) -> dict:
    """The config schema, read once however many passes use it."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _types(schema: dict) -> set:
    kind = schema.get("type", ())
    return {kind} if isinstance(kind, str) else set(kind)


def _child(schema: dict, key) -> dict:
    """The schema of ``key`` in an object (or of an item, for a list)."""
    if isinstance(key, int):
        return schema.get("items", {})
    properties = schema.get("properties", {})
    if key in properties:
        return properties[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def _walk(value, schema: dict, defs: dict, leaf):
    """``value`` with each scalar replaced by ``leaf(scalar, its schema)``."""
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if isinstance(value, dict):
        return {k: _walk(v, _child(schema, k), defs, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, _child(schema, i), defs, leaf) for i, v in enumerate(value)]
    return leaf(value, schema)


def _typed(value, schema: dict):
    """A command-line string read again as the number or boolean the schema asks for."""
    wanted = tuple(SCALAR_TYPES[t] for t in _types(schema) if t in SCALAR_TYPES)
    if isinstance(value, str) and wanted:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, float) and parsed.is_integer() and int in wanted:
            parsed = int(parsed)  # seeds=[2.0]: seed 2, as in a config file
        if isinstance(parsed, wanted) and (bool in wanted or not isinstance(parsed, bool)):
            return parsed
    return value


def _integer(value, schema: dict):
    """A whole-number float as the integer the schema asks for."""
    types = _types(schema)
    whole = isinstance(value, float) and value.is_integer()
    return int(value) if whole and "integer" in types and "number" not in types else value


def apply(config: dict, overrides: dict, schema_path) -> None:
    """Retype in ``config`` (already merged with ``overrides``) the values that came from the
    command line."""
    if not overrides:  # the usual start: no --config, no second read of the schema
        return
    schema = _schema(str(schema_path))
    defs = schema.get("$defs", {})
    for key, value in overrides.items():
        if key in config:
            merged = config[key]
            typed = _walk(value, _child(schema, key), defs, _typed)
            config[key] = _merge(merged, typed)


def _merge(merged, typed):
    """``merged`` with the overridden parts replaced by their typed values."""
    if isinstance(merged, dict) and isinstance(typed, dict):
        return {**merged, **{k: _merge(merged.get(k), v) for k, v in typed.items()}}
    return typed


def integers(config: dict, schema_path) -> None:
    """Whole-number floats as integers in ``config``, wherever the schema types an integer."""
    schema = _schema(str(schema_path))
    typed = _walk(config, schema, schema.get("$defs", {}), _integer)
    config.clear()
    config.update(typed)
