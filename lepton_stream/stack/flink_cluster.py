"""A Flink standalone session cluster from the PyFlink distribution, and `flink run`.

The same submission path a real cluster takes (`flink run -py`): the job is
not run as a local MiniCluster but handed to a JobManager, and its Python
workers run in a TaskManager's processes. JobManager and TaskManager run in
the foreground as our children (own process groups), stopped by PID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.stack import processes
from lepton_stream.stack.flink_jvm import jit_options
from lepton_stream.stack.flink_network import bind_options
from lepton_stream.stack.flink_patch import flink_home, lib_with_patch
from lepton_stream.stack.job_process import JOB_SCRIPT, job_args

JOB_ENTRY = JOB_SCRIPT  # the same file `lepton-stream run` executes as a module


@dataclass
class FlinkCluster:
    rest: str  # host:port of the JobManager's REST endpoint
    conf_dir: Path
    jobmanager: subprocess.Popen
    taskmanager: subprocess.Popen

    def overview(self) -> dict:
        with urllib.request.urlopen(f"http://{self.rest}/overview", timeout=3) as r:
            return json.loads(r.read())

    def jobs(self) -> list[dict]:
        with urllib.request.urlopen(f"http://{self.rest}/jobs/overview", timeout=3) as r:
            return json.loads(r.read())["jobs"]

    def stop(self) -> None:
        for proc in (self.taskmanager, self.jobmanager):
            if proc.poll() is None:
                processes.stop(proc.pid)
            proc.wait(timeout=10)


def _config(s: Settings, rest_port: int, ports: list[int], slots: int) -> str:
    import yaml

    rpc, blob, tm_rpc, tm_data = ports
    # The distribution's JVM options (module opens Flink needs on Java 17), then ours.
    dist = yaml.safe_load((flink_home() / "conf" / "config.yaml").read_text())
    lines = {
        "env.java.opts.all": " ".join([dist["env"]["java"]["opts"]["all"], *jit_options(s)]),
        **bind_options(s),  # every server on `host`, no jar upload over REST
        "jobmanager.rpc.port": rpc, "rest.port": rest_port, "blob.server.port": blob,
        "taskmanager.rpc.port": tm_rpc, "taskmanager.data.port": tm_data,
        "taskmanager.numberOfTaskSlots": slots,
        "jobmanager.memory.process.size": "768m", "taskmanager.memory.process.size": "2048m",
        "parallelism.default": s.job.parallelism,
    }
    return "".join(f"{k}: {v}\n" for k, v in lines.items())


def cluster_lib(s: Settings) -> Path:
    """The distribution's lib/ plus flink-python from opt/: the JobManager needs its
    operators to accept a Python job. A Flink image for PyFlink jobs does the same
    (docker/flink.Dockerfile); here a folder of links is passed as FLINK_LIB_DIR,
    with the patch that keeps the TaskManager's Beam servers on loopback."""
    return lib_with_patch(s, with_flink_python=True)


def _env(s: Settings, conf_dir: Path, log_dir: Path) -> dict[str, str]:
    return {**os.environ, **s.to_env(), "FLINK_HOME": str(flink_home()), "FLINK_LIB_DIR": str(cluster_lib(s)),
            "FLINK_CONF_DIR": str(conf_dir), "FLINK_LOG_DIR": str(log_dir),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def start_cluster(s: Settings, slots: int = 2, timeout_s: float = 90.0) -> FlinkCluster:
    """JobManager + one TaskManager with `slots` slots, on free ports, under `s.endpoints.home`."""
    home = flink_home()
    conf_dir = s.endpoints.home / "flink-conf"
    log_dir = s.endpoints.home / "flink-log"
    conf_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in ("log4j-console.properties", "log4j.properties", "log4j-cli.properties"):
        (conf_dir / name).write_bytes((home / "conf" / name).read_bytes())
    rest_port, *ports = processes.free_ports(5)
    (conf_dir / "config.yaml").write_text(_config(s, rest_port, ports, slots))
    env = _env(s, conf_dir, log_dir)
    jm = processes.start("flink-jobmanager", ["bash", str(home / "bin" / "jobmanager.sh"), "start-foreground"],
                         log_dir / "jobmanager.out", env=env, cwd=REPO_ROOT)
    tm = processes.start("flink-taskmanager", ["bash", str(home / "bin" / "taskmanager.sh"), "start-foreground"],
                         log_dir / "taskmanager.out", env=env, cwd=REPO_ROOT)
    cluster = FlinkCluster(f"{s.endpoints.host}:{rest_port}", conf_dir, jm, tm)
    try:
        processes.wait_ready("flink-jobmanager", jm, log_dir / "jobmanager.out",
                             lambda: cluster.overview()["taskmanagers"] >= 1 and tm.poll() is None, timeout_s)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def submit_command(s: Settings, cluster_rest: str, startup: str = "group", bounded: bool = False,
                   detached: bool = False, flink: str = "flink") -> list[str]:
    """`flink run -py` of the job entry point, exactly as one would type it for any cluster."""
    cmd = [flink, "run", "-m", cluster_rest, "-py", str(REPO_ROOT / JOB_ENTRY),
           "-pyexec", sys.executable, "-pyclientexec", sys.executable, "-p", str(s.job.parallelism)]
    if detached:
        cmd.append("-d")
    return cmd + job_args(startup, bounded)


def submit(s: Settings, cluster: FlinkCluster, log_path: Path, startup: str = "group",
           bounded: bool = False) -> subprocess.Popen:
    env = _env(s, cluster.conf_dir, log_path.parent)
    cmd = submit_command(s, cluster.rest, startup, bounded, flink=str(flink_home() / "bin" / "flink"))
    return processes.start("flink-run", ["bash", *cmd], log_path, env=env, cwd=REPO_ROOT)
