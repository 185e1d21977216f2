"""The repository's own files agree with each other."""

import re
import subprocess
from pathlib import Path

import pytest

from lepton_stream.config import REPO_ROOT
from lepton_stream.models.repository import SERVING_MODEL


@pytest.mark.parametrize("path", sorted(REPO_ROOT.glob("model_repo/*/[0-9]*/model.py")),
                         ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_each_served_model_py_is_the_template(path):
    assert path.read_text() == SERVING_MODEL.read_text(), f"{path} differs from {SERVING_MODEL.name}"


def test_some_model_versions_exist():
    assert len(list(REPO_ROOT.glob("model_repo/*/[0-9]*/model.py"))) >= 2


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    keep = (".py", ".md", ".yml", ".yaml", ".toml", ".sh", ".pbtxt", ".html", ".cfg", ".txt", ".in", ".go")
    return [REPO_ROOT / p for p in out.splitlines()
            if p.endswith(keep) or p in ("Makefile", ".ci/run") or p.endswith("Dockerfile")]


_TOP = sorted(p.name for p in REPO_ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))
# A document by name (`design.md`, `docs/deploy.md`), or a path into one of the
# repository's top-level folders (`lepton_stream/config.py`).
_DOC = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.md)\b")
_PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(map(re.escape, _TOP)) + r")/[\w./*-]*[\w*])")


def _exists(ref: str, where: Path, names: set[str]) -> bool:
    ref = ref.rstrip(".")
    if "<" in ref or "{" in ref:  # a pattern in prose: `model_repo/<name>/config.pbtxt`
        return True
    if "*" in ref:
        return any(REPO_ROOT.glob(ref)) or any(where.parent.glob(ref))
    if (REPO_ROOT / ref).exists() or (where.parent / ref).exists():
        return True
    return "/" not in ref and ref in names


# Written by the programs at run time, not kept in the repository.
_GENERATED = ("benchmarks/results/",)


def test_code_and_docs_cite_only_files_of_the_repository():
    missing = []
    names = {p.name for p in _tracked_text_files()} | {p.name for p in REPO_ROOT.glob("*/*.png")}
    for path in _tracked_text_files():
        text = path.read_text(errors="replace")
        refs = {m.group(1) for m in _DOC.finditer(text)} | {m.group(1) for m in _PATH.finditer(text)}
        missing += [f"{path.relative_to(REPO_ROOT)}: {ref}" for ref in sorted(refs)
                    if not ref.startswith(_GENERATED) and not _exists(ref, path, names)]
    assert not missing, "references to files that are not in the repository:\n" + "\n".join(missing)


def test_no_issue_numbers_in_code_or_docs():
    pattern = re.compile(r"\b[Ii]ssues? ?#?\d+\b")
    found = [f"{p.relative_to(REPO_ROOT)}: {m.group()}" for p in _tracked_text_files()
             for m in pattern.finditer(p.read_text(errors="replace"))]
    assert not found, "\n".join(found)


def _imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("lepton_stream/observability", "lepton_stream.stack"),  # metrics are below the stack, not above it
    ("lepton_stream/feature_store/base.py", "redis"),  # the interface imports nothing of its backends
    ("lepton_stream/stack/health_exporter.py", "lepton_stream.stack.manager"),  # the manager starts it
])
def test_layers_import_downwards_only(folder, forbidden):
    root = REPO_ROOT / folder
    files = sorted(root.glob("*.py")) if root.is_dir() else [root]
    bad = [f"{f.relative_to(REPO_ROOT)}: {m}" for f in files for m in _imports(f)
           if m == forbidden or m.startswith(forbidden + ".")]
    assert files and not bad, bad
