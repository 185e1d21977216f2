"""Triton Inference Server: the binary bundled in nvidia-pytriton, in .venv-triton.

Set up as the wheel needs it: a backends/python folder of links holding
the stub, LD_LIBRARY_PATH led by the interpreter's own libpython, and the
Triton venv's bin first on PATH so the stub finds numpy and onnxruntime.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.models.triton_key import ensure_key, read_key, server_flags
from lepton_stream.stack.processes import StackError

TRITON_VENV = REPO_ROOT / ".venv-triton"


def model_names(repo: Path) -> list[str]:
    return sorted(p.parent.name for p in repo.glob("*/config.pbtxt"))


class TritonServer:
    name = "triton"
    ready_timeout_s = 90.0

    def ports(self, s: Settings) -> list[int]:
        return [s.endpoints.triton_http_port, s.endpoints.triton_grpc_port, s.endpoints.triton_metrics_port]

    def _pytriton(self) -> Path:
        found = sorted(TRITON_VENV.glob("lib/python3.*/site-packages/pytriton/tritonserver"))
        if not found:
            raise StackError(self.name, f"nvidia-pytriton not installed in {TRITON_VENV}: run `make setup`")
        return found[0]

    def _backends(self, s: Settings) -> Path:
        return s.endpoints.home / "triton" / "backends"

    def prepare(self, s: Settings) -> None:
        root = self._pytriton()
        py = self._backends(s) / "python"
        py.mkdir(parents=True, exist_ok=True)
        links = {
            "libtriton_python.so": root / "backends/python/libtriton_python.so",
            "triton_python_backend_utils.py": root / "backends/python/triton_python_backend_utils.py",
            "triton_python_backend_stub": root / "python_backend_stubs/3.11/triton_python_backend_stub",
        }
        for name, target in links.items():
            if not target.exists():
                raise StackError(self.name, f"{target} missing from the nvidia-pytriton wheel")
            link = py / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
        if not model_names(s.endpoints.model_repo):
            raise StackError(self.name, f"no models in {s.endpoints.model_repo}")
        try:
            ensure_key(s)
        except ValueError as exc:
            raise StackError(self.name, str(exc)) from None

    def command(self, s: Settings) -> list[str]:
        return [
            str(self._pytriton() / "bin" / "tritonserver"),
            f"--model-repository={s.endpoints.model_repo}",
            f"--backend-directory={self._backends(s)}",
            f"--model-config-name={s.models.model_config_variant}",
            # Explicit control: `lepton-stream model publish` loads new versions while serving.
            "--model-control-mode=explicit", "--load-model=*",
            f"--http-address={s.endpoints.host}", f"--http-port={s.endpoints.triton_http_port}",
            f"--grpc-address={s.endpoints.host}", f"--grpc-port={s.endpoints.triton_grpc_port}",
            f"--metrics-address={s.endpoints.host}", f"--metrics-port={s.endpoints.triton_metrics_port}",
            "--allow-cpu-metrics=true", "--exit-on-error=true", "--strict-readiness=true",
            # Model loading (code execution) only with the key; tritonserver takes it
            # only on its command line (docs/security.md).
            *server_flags(read_key(s)),
        ]

    def env(self, s: Settings) -> dict[str, str] | None:
        libdir = subprocess.run([str(TRITON_VENV / "bin" / "python"), "-c",
                                 "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                                capture_output=True, text=True, check=True).stdout.strip()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = ":".join(
            p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p)
        env["PATH"] = f"{TRITON_VENV / 'bin'}:{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(TRITON_VENV)
        env.pop("PYTHONPATH", None)
        return env

    def _get(self, s: Settings, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"{s.triton_http}{path}", timeout=2) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""

    def ready(self, s: Settings) -> bool:
        if self._get(s, "/v2/health/ready")[0] != 200:
            return False
        return all(self._get(s, f"/v2/models/{m}/ready")[0] == 200 for m in model_names(s.endpoints.model_repo))

    def health(self, s: Settings) -> str:
        server = "ready" if self._get(s, "/v2/health/ready")[0] == 200 else "NOT ready"
        parts = []
        for m in model_names(s.endpoints.model_repo):
            status, body = self._get(s, f"/v2/models/{m}")
            versions = json.loads(body).get("versions", []) if status == 200 and body else []
            ok = self._get(s, f"/v2/models/{m}/ready")[0] == 200
            parts.append(f"{m} v{','.join(versions) or '?'} {'ready' if ok else 'NOT ready'}")
        return f"server {server}; " + "; ".join(parts)
