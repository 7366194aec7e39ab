"""The YAML loader for files people edit by hand (rules, contracts)."""

from __future__ import annotations

import re
from collections.abc import Hashable
from functools import lru_cache
from typing import Any

import yaml


@lru_cache(maxsize=1)
def strict_yaml_loader() -> type[yaml.SafeLoader]:
    """A safe loader where only true/false are booleans and duplicate keys are errors.

    Plain YAML 1.1 reads ``NO`` (Norway), ``yes`` and ``off`` as booleans (a label value
    ``yes`` or a column called ``no`` would silently become ``True``/``False``), and silently
    keeps the last of two equal keys; both would hide a person's edit.
    """
    bool_tag = "tag:yaml.org,2002:bool"

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(
            self, node: yaml.MappingNode, deep: bool = False
        ) -> dict[Hashable, Any]:
            seen: set[object] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    StrictLoader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return StrictLoader


def load_yaml_mapping(text: str, what: str, allowed_keys: str) -> dict[Any, Any]:
    """Parse ``text`` with :func:`strict_yaml_loader` and return its top-level mapping;
    a ConfigError starting with ``what`` (e.g. ``rules file 'x.yaml'``) for invalid YAML or
    a document that is not a mapping (``allowed_keys`` names what it should hold)."""
    from leadscore.features._errors import ConfigError

    try:
        data = yaml.load(text, Loader=strict_yaml_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{what}: not valid YAML: {detail}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what}: expected a mapping with keys {allowed_keys}, got {type(data).__name__}"
        )
    return data
