"""A config file read as its author meant it: what YAML would reinterpret in silence stops the
dry run with the file and the line.

Snakemake reads config files with PyYAML, which follows YAML 1.1: a key given twice keeps the
last value (a second ``train:`` replaces the first whole), ``010`` is the octal 8, ``1:30`` is
90, ``1_000`` is 1000 and ``no``, ``on``, ``off`` are booleans. Each of these is refused here,
before Snakemake's own reading is used. A file that sets ``__use_yte__`` is refused too, but
only after Snakemake has evaluated it (its Python has run by then).
"""

import re

import yaml

from attnablate.errors import ConfigurationError

DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")  # an integer as it reads
BOOLEANS = ("true", "false")  # the spellings of a boolean that mean what they say
YTE_KEY = "__use_yte__"  # makes Snakemake evaluate the file as a template, Python included


class _CheckingLoader(yaml.SafeLoader):
    """A SafeLoader that records each reinterpretation with its line."""

    def __init__(self, stream):
        super().__init__(stream)
        self.problems: list[tuple[int, str]] = []

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # <<: *anchor, flattened below
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.problems.append(
                    (
                        line,
                        f"key {key!r} is given twice (first on line {seen[key]}): the second "
                        "would replace the first whole",
                    )
                )
            seen.setdefault(key, line)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        value = super().construct_yaml_int(node)
        if not DECIMAL.fullmatch(node.value):
            self.problems.append(
                (
                    node.start_mark.line + 1,
                    f"{node.value} would be read as the number {value} (YAML 1.1): write "
                    "the number meant in plain decimal digits, or quote it for the text",
                )
            )
        return value

    def construct_yaml_bool(self, node):
        value = super().construct_yaml_bool(node)
        if node.value.lower() not in BOOLEANS:
            self.problems.append(
                (
                    node.start_mark.line + 1,
                    f"{node.value} would be read as {str(value).lower()} (YAML 1.1): write "
                    f"{str(value).lower()}, or quote it for the text",
                )
            )
        return value


_CheckingLoader.add_constructor("tag:yaml.org,2002:int", _CheckingLoader.construct_yaml_int)
_CheckingLoader.add_constructor("tag:yaml.org,2002:bool", _CheckingLoader.construct_yaml_bool)


def check(path) -> None:
    """Raise ConfigurationError naming ``path`` and the line of the first value YAML would
    reinterpret in silence."""
    with open(path, encoding="utf-8") as stream:
        loader = _CheckingLoader(stream)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    if isinstance(data, dict) and YTE_KEY in data:
        raise ConfigurationError(
            f"{path}",
            f"{YTE_KEY}: Snakemake has evaluated this file as a YTE template (Python code) "
            "while reading it; attn-ablate takes plain YAML only. Treat a config file from "
            "someone else as you would their script",
        )
    if loader.problems:
        line, problem = min(loader.problems)
        raise ConfigurationError(f"{path}, line {line}", problem)
