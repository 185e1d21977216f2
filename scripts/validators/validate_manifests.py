"""Validate rendered Kubernetes manifests: built-in kinds against the Kubernetes
JSON schemas of kubernetes-validate (strict: unknown fields fail), custom
resources against the CRD schemas made by scripts/validators/crd_schemas.py.
A resource with no schema is an error, never a skip.

Usage: validate_manifests.py --k8s-version 1.32.0 --crds DIR < manifests.yaml
Prints one JSON object per resource: {"kind", "name", "apiVersion", "schema", "error"}.
Runs with the validators' Python (.lepton/validators/venv), called by tests/deploy.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv


@cache
def crd_validator(path: Path) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(path.read_text()))


def crd_schema_path(crds: Path, doc: dict[str, Any]) -> Path:
    group, _, version = doc["apiVersion"].rpartition("/")
    return crds / f"{doc['kind'].lower()}-{group.split('.')[0]}-{version}.json"


def check(doc: dict[str, Any], k8s_version: str, crds: Path) -> tuple[str, str | None]:
    """(which schema validated it, the first error or None)."""
    try:
        kv.validate(doc, k8s_version, strict=True)
        return f"kubernetes {k8s_version}", None
    except kv.ValidationError as exc:
        return f"kubernetes {k8s_version}", f"{'/'.join(map(str, exc.absolute_path))}: {exc.message}"
    except kv.SchemaNotFoundError:
        pass
    path = crd_schema_path(crds, doc)
    if not path.exists():
        return "none", f"no schema for {doc['apiVersion']} {doc['kind']} (neither built in nor in {crds})"
    errors = sorted(crd_validator(path).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        return path.name, f"{'/'.join(map(str, first.absolute_path))}: {first.message}"
    return path.name, None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s-version", required=True)
    ap.add_argument("--crds", type=Path, required=True)
    args = ap.parse_args()
    if not re.fullmatch(r"\d+\.\d+\.\d+", args.k8s_version):
        ap.error("--k8s-version like 1.32.0")
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc:
            continue
        schema, error = check(doc, args.k8s_version, args.crds)
        print(json.dumps({"kind": doc.get("kind"), "name": doc.get("metadata", {}).get("name"),
                          "apiVersion": doc.get("apiVersion"), "schema": schema, "error": error}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
