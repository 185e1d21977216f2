"""`lepton-stream model build-trt`: ONNX -> TensorRT plans for the GPU configs.

For every model whose config.pbtxt says `platform: "tensorrt_plan"`, builds
`<latest version>/model.plan` from `model.onnx` with trtexec: FP16, and a batch
profile from 1 to the config's max_batch_size. trtexec comes with the official
Triton container, so without a local trtexec this runs itself inside that
container (Docker with the NVIDIA runtime). Standard library only: the
compose `model-builder` service runs this very file with the container's python3.

NOT verified on the machines this project is built on: they have no GPU and
the TensorRT builder cannot be installed there.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"


def plan_jobs(repo: Path) -> list[tuple[Path, Path, str, int, int]]:
    """(onnx, plan, input name, n_features, max_batch) per TensorRT model's latest version."""
    jobs = []
    for config in sorted(repo.glob("*/config.pbtxt")):
        text = config.read_text()
        if not re.search(r'platform:\s*"tensorrt_plan"', text):
            continue
        batch_m = re.search(r"max_batch_size:\s*(\d+)", text)
        m = re.search(r'input\s*\[\s*\{\s*name:\s*"([^"]+)".*?dims:\s*\[\s*(\d+)\s*\]', text, re.S)
        if batch_m is None or m is None:
            raise SystemExit(f"{config}: no max_batch_size or input dims")
        max_batch = int(batch_m.group(1))
        name, n_features = m.group(1), int(m.group(2))
        version_dirs = sorted((p for p in config.parent.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        if version_dirs and (version_dirs[-1] / "model.onnx").exists():
            v = version_dirs[-1]
            jobs.append((v / "model.onnx", v / "model.plan", name, n_features, max_batch))
    return jobs


def trtexec_command(onnx: Path, plan: Path, name: str, n: int, max_batch: int) -> list[str]:
    return ["trtexec", f"--onnx={onnx}", f"--saveEngine={plan}", "--fp16",
            f"--minShapes={name}:1x{n}", f"--optShapes={name}:{min(1024, max_batch)}x{n}",
            f"--maxShapes={name}:{max_batch}x{n}"]


def docker_command(repo: Path) -> list[str]:
    here = Path(__file__).resolve()
    return ["docker", "run", "--rm", "--gpus", "all", "-v", f"{repo.resolve()}:/models",
            "-v", f"{here}:/lepton/tensorrt.py:ro", TRITON_IMAGE, "python3", "/lepton/tensorrt.py", "/models"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lepton-stream model build-trt", description=__doc__.splitlines()[0])
    ap.add_argument("repo", nargs="?", default=str(Path(__file__).resolve().parents[2] / "model_repo"))
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = ap.parse_args(argv)
    repo = Path(args.repo)
    jobs = plan_jobs(repo)
    if shutil.which("trtexec") is None:
        cmd = docker_command(repo)
        if args.dry_run:
            print(" ".join(cmd))
            return 0
        if shutil.which("docker") is None:
            print("build-trt: needs trtexec (inside the Triton container) or Docker with the NVIDIA runtime; "
                  "neither is here", file=sys.stderr)
            return 1
        return subprocess.call(cmd)
    for job in jobs:
        cmd = trtexec_command(*job)
        print(" ".join(cmd), flush=True)
        if not args.dry_run and subprocess.call(cmd) != 0:
            print(f"build-trt: trtexec failed for {job[0]}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
