"""CustomResourceDefinition YAML -> strict JSON schemas, one per kind and version.

Usage: crd_schemas.py <dir of CRD yaml> <output dir>
Writes `<kind>-<group prefix>-<version>.json` (kubeconform's naming). Run by
scripts/setup_validators.sh with the validators' Python (PyYAML).

Strict like `kubeconform -strict`: every object schema that lists its
properties rejects unknown ones (a typo in a field name fails), unless the CRD
marks it `x-kubernetes-preserve-unknown-fields`. OpenAPI's `nullable` and
`x-kubernetes-int-or-string` become their JSON-schema equivalents.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

# The only deliberate deviation from a published CRD. Maven Central carries the
# Flink Kubernetes Operator's api jar only up to 1.10.0, whose FlinkVersion enum
# stops at v1_20; operator 1.13 (the one docs/deploy.md requires) accepts v2_x.
# tests/deploy asserts the published enum still lacks these values, so this
# goes away as soon as a newer jar is pinned.
ENUM_EXTENSIONS: dict[tuple[str, str], list[str]] = {
    ("FlinkDeployment", "spec.flinkVersion"): ["v2_0", "v2_1", "v2_2"],
}


def strict(node: Any) -> Any:
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def extend_enums(kind: str, schema: dict[str, Any]) -> None:
    for (k, path), extra in ENUM_EXTENSIONS.items():
        if k != kind:
            continue
        node = schema
        for part in path.split("."):
            node = node["properties"][part]
        node["enum"] = list(node["enum"]) + [v for v in extra if v not in node["enum"]]


def convert(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = crd["spec"]
    kind, group = spec["names"]["kind"], spec["group"]
    out = {}
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        schema = strict(version["schema"]["openAPIV3Schema"])
        props = schema.setdefault("properties", {})
        # The API server owns these three; pin them so a wrong apiVersion/kind fails.
        props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        props["kind"] = {"type": "string", "enum": [kind]}
        props["metadata"] = {"type": "object"}
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
        extend_enums(kind, schema)
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        out[f"{kind.lower()}-{group.split('.')[0]}-{version['name']}.json"] = schema
    return out


def main(argv: list[str]) -> int:
    src, dst = Path(argv[0]), Path(argv[1])
    dst.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(src.glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in convert(doc).items():
                (dst / name).write_text(json.dumps(schema, indent=1, sort_keys=True))
                written += 1
    if not written:
        print(f"no CRDs found in {src}", file=sys.stderr)
        return 1
    print(f"{written} CRD schemas written to {dst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
