"""A class archive for the local job's gateway JVM (the MiniCluster).

A job's JVM spends about a quarter of its start loading and verifying the same
thousands of classes of Flink, Calcite, Pekko and Beam (docs/performance.md,
"Starting a job"). JDK 17 writes the classes a JVM loaded into an archive at its
exit (`-XX:ArchiveClassesAtExit`), which later JVMs map instead
(`-XX:SharedArchiveFile`). Writing one takes a JVM about 20 s at its exit here,
and the JDK does not check that an archive is whole: a JVM that maps one cut
short crashes (SIGBUS). So it is recorded once, at set-up (`record`, run by
scripts/setup.sh), by a small bounded job of the same shape (a pandas UDF between
a source and a sink, checkpointed, with the job's Flink options) on the job's
class path, whose JVM is then stopped and waited for; the archive is checked
(every region's checksum) before it is put in place. Named by the `java` binary
and the class path, so a new JDK or Flink needs a new one: without one a job
starts as it would anyway, and a JVM that finds one made with other options says
so on its output and runs without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lepton_stream.config import Settings

# Less than this is no archive of a job's classes (one holds well over 100 MB).
_MIN_BYTES = 1 << 20
# A JVM's exit status when it stopped on SIGTERM (128 + 15), its archive written.
_STOPPED = 143


def real_java() -> str:
    """The `java` PyFlink runs for the gateway: JAVA_HOME's, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    return os.path.join(home, "bin", "java") if home else (shutil.which("java") or "java")


def archive_path(s: Settings, lib: Path) -> Path:
    """Where the archive of this `java` and the class path of FLINK_LIB_DIR `lib` is."""
    java = Path(real_java()).resolve()
    st = java.stat()
    parts = [str(java), str(st.st_size), str(st.st_mtime_ns), str(lib.resolve())]
    parts += sorted(f"{p.name}:{p.stat().st_size}" for p in lib.iterdir())
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
    return s.endpoints.lib_dir / "flink-cds" / f"gateway-{key}.jsa"


def options(s: Settings, lib: Path) -> list[str]:
    """The gateway JVM's options for its class archive, given FLINK_LIB_DIR `lib`:
    none when switched off or not recorded."""
    if not s.job.jvm_class_archive:
        return []
    try:
        archive = archive_path(s, lib)
    except OSError:  # no java found: PyFlink's own error says so
        return []
    return [f"-XX:SharedArchiveFile={archive}"] if archive.exists() else []


def record(s: Settings, timeout_s: float = 600.0) -> Path:
    """The archive for this machine's job JVM, recorded if missing (see above).
    Raises RuntimeError when the recording fails."""
    from lepton_stream.stack.flink_jvm import minicluster_jvm_args
    from lepton_stream.stack.flink_patch import lib_with_patch

    archive = archive_path(s, lib_with_patch(s, with_flink_python=False))
    if archive.exists():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    part = archive.with_name(f"{archive.name}.{os.getpid()}.part")
    jvm_args = [minicluster_jvm_args(s), f"-XX:ArchiveClassesAtExit={part}", "-XX:+VerifySharedSpaces",
                "-Xlog:cds*=off"]  # at exit the JVM names each class it leaves out: thousands of lines
    env = {**os.environ, **s.to_env(), "JVM_ARGS": " ".join(jvm_args), "LEPTON_JVM_CLASS_ARCHIVE": "false"}
    try:
        done = subprocess.run([sys.executable, "-m", "lepton_stream.stack.flink_cds", "--workload"], env=env,
                              capture_output=True, text=True, timeout=timeout_s)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"the recording job failed: {(done.stderr or done.stdout).strip()[-800:]}")
        jvm = json.loads(lines[-1])
        if jvm["status"] != _STOPPED or not part.exists() or part.stat().st_size < _MIN_BYTES:
            raise RuntimeError(f"the recording JVM ended with status {jvm['status']} and no whole archive")
        check = subprocess.run([real_java(), "-Xshare:on", f"-XX:SharedArchiveFile={part}", "-XX:+VerifySharedSpaces",
                                "-XX:-CreateCoredumpOnCrash", f"-XX:ErrorFile={part}.crash", "-cp", jvm["classpath"],
                                "-version"], capture_output=True, text=True, timeout=120)
        if check.returncode != 0:
            raise RuntimeError(f"the recorded archive does not load: {(check.stderr or check.stdout).strip()[-400:]}")
        part.replace(archive)
        return archive
    finally:
        for left in (part, Path(f"{part}.crash")):
            left.unlink(missing_ok=True)


def _workload() -> int:
    """The recording job (run by `record` with its JVM_ARGS): a bounded stream through a
    pandas UDF, checkpointed, with the job's Flink options; then its gateway JVM is
    stopped as a job's is, and waited for while it writes the archive. Prints the
    JVM's exit status and class path as JSON."""
    import pandas as pd
    from pyflink.common import Configuration
    from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
    from pyflink.table.udf import udf

    from lepton_stream.stack.flink_network import prepare_local_job
    from stream_jobs.scoring_job import tuning_options

    s = Settings.from_env()
    os.environ.setdefault("_python_worker_execution_mode", s.job.python_worker_mode)
    network = prepare_local_job(s) or {}  # before PyFlink's first use, which starts the gateway JVM
    local = Configuration()
    for k, v in network.items():
        local.set_string(k, v)
    t_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode()
                                    .with_configuration(local).build())
    conf = t_env.get_config()
    for k, v in tuning_options(s).items():
        conf.set(k, v)
    t_env.execute_sql("CREATE TABLE src (k BIGINT, v STRING) WITH ('connector' = 'datagen', "
                      "'number-of-rows' = '3000', 'rows-per-second' = '1000')")
    t_env.execute_sql("CREATE TABLE snk (k BIGINT, v STRING) WITH ('connector' = 'blackhole')")

    def upper(v: pd.Series) -> pd.Series:
        return v.str.upper()

    t_env.create_temporary_function("upper_", udf(upper, result_type=DataTypes.STRING(), func_type="pandas"))
    t_env.execute_sql("INSERT INTO snk SELECT k, upper_(v) FROM src").wait()
    (jvm,) = [p for p in _children() if Path(f"/proc/{p}/exe").resolve().name == "java"]
    cmdline = Path(f"/proc/{jvm}/cmdline").read_bytes().decode().split("\0")
    os.kill(jvm, signal.SIGTERM)
    _, status = os.waitpid(jvm, 0)
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"status": code, "classpath": cmdline[cmdline.index("-cp") + 1]}), flush=True)
    return 0


def _children() -> list[int]:
    me = str(os.getpid())
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                    out.append(int(proc.name))
            except OSError:
                continue
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--workload"]:
        return _workload()
    t0 = time.monotonic()
    try:
        archive = record(Settings.from_env())
    except RuntimeError as exc:  # a job then starts without it: no reason to fail the set-up
        print(f"flink_cds: no class archive for the job's JVM: {exc}", file=sys.stderr)
        return 0
    print(f"{archive} ({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
