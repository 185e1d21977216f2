"""Shared, cached set-up for the deployment checks: where the validators are
(scripts/setup_validators.sh, run by `make setup`), each overlay rendered once,
each rendering validated once per session."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lepton_stream.config import REPO_ROOT

OVERLAYS = ("dev", "prod", "redis-cluster")  # redis-cluster: dev on a 3-master Redis Cluster
K8S_VERSION = "1.32.0"  # the oldest Kubernetes minor the manifests promise (docs/deploy.md)


@dataclass(frozen=True)
class Validators:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def hadolint(self) -> Path:
        return self.root / "venv" / "bin" / "hadolint"

    @property
    def kustomize(self) -> Path:
        return self.root / "bin" / "kustomize"

    @property
    def composecheck(self) -> Path:
        return self.root / "bin" / "composecheck"

    @property
    def compose_schema(self) -> Path:
        return self.root / "schemas" / "compose-spec.json"

    @property
    def crds(self) -> Path:
        return self.root / "schemas" / "crds"

    @property
    def crd_yaml(self) -> Path:
        return self.root / "crd-yaml"

    def validate(self, manifests: str) -> list[dict[str, Any]]:
        """Run scripts/validators/validate_manifests.py on multi-document YAML."""
        out = subprocess.run(
            [str(self.python), str(REPO_ROOT / "scripts" / "validators" / "validate_manifests.py"),
             "--k8s-version", K8S_VERSION, "--crds", str(self.crds)],
            input=manifests, capture_output=True, text=True, timeout=120, check=True)
        return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture(scope="session")
def validators() -> Validators:
    home = Path(os.environ.get("LEPTON_HOME", REPO_ROOT / ".lepton"))
    v = Validators(home / "validators")
    missing = [p for p in (v.python, v.hadolint, v.kustomize, v.composecheck, v.compose_schema, v.crds)
               if not p.exists()]
    # Not a skip: CI runs `make test`, whose setup step installs them.
    assert not missing, f"deployment validators missing ({missing}): run `make setup`"
    return v


@pytest.fixture(scope="session")
def rendered_text(validators: Validators) -> dict[str, str]:
    out = {}
    for overlay in OVERLAYS:
        run = subprocess.run([str(validators.kustomize), "build", str(REPO_ROOT / "k8s" / "overlays" / overlay)],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"kustomize build {overlay}: {run.stderr}"
        out[overlay] = run.stdout
    return out


@pytest.fixture(scope="session")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {o: [d for d in yaml.safe_load_all(text) if d] for o, text in rendered_text.items()}


@pytest.fixture(scope="session")
def validation(validators: Validators, rendered_text: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {o: validators.validate(text) for o, text in rendered_text.items()}


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]
