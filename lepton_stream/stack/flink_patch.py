"""The Beam servers of Flink's Python operators on the loopback address.

Each Python operator starts six gRPC servers for its Python workers (control,
data, state, logging, provisioning, artifacts). flink-python 2.2.1 builds them
with `NettyServerBuilder.forPort`, which listens on every interface, and no
option changes that. flink_patch/ServerFactory.java replaces the one class that
does it; this module compiles it (javac, once per source and flink-python jar,
into `lib_dir/flink-patch/`) and makes FLINK_LIB_DIR folders that hold it
beside Flink's own jars, so that it comes before flink-python's jar on the JVM
class path: PyFlink's local gateway appends opt/flink-python last, and
bin/config.sh sorts lib/ by name (`beam-...` before `flink-...`).

Run `python -m lepton_stream.stack.flink_patch` (make setup does) to build it ahead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lepton_stream.config import Settings
from lepton_stream.stack.processes import StackError

SOURCE = Path(__file__).resolve().parent / "flink_patch" / "ServerFactory.java"
PATCHED_CLASS = "org/apache/beam/sdk/fn/server/ServerFactory$InetSocketAddressServerFactory.class"
FLINK_PYTHON = "flink-python-2.2.1.jar"  # the jar whose ServerFactory the source matches


def flink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).parent


def flink_python_jar() -> Path:
    jar = flink_home() / "opt" / FLINK_PYTHON
    if not jar.exists():
        found = ", ".join(p.name for p in (flink_home() / "opt").glob("flink-python-*.jar")) or "none"
        raise StackError("flink", f"{SOURCE.name} is written for {FLINK_PYTHON}, this PyFlink has {found}: "
                                  "check the patched class against the new jar before changing FLINK_PYTHON")
    return jar


def patch_jar(s: Settings) -> Path:
    """The jar with the patched class, built if missing."""
    python_jar = flink_python_jar()
    key = hashlib.sha256(SOURCE.read_bytes() + python_jar.name.encode()).hexdigest()[:12]
    out = s.endpoints.lib_dir / "flink-patch" / f"beam-loopback-{key}.jar"
    if out.exists():
        return out
    javac = shutil.which("javac")
    if javac is None:
        raise StackError("flink", "javac not found: a JDK 17+ (not only a JRE) builds the Beam loopback patch")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run([javac, "--release", "11", "-nowarn", "-d", tmp, "-cp", str(python_jar), str(SOURCE)],
                             capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise StackError("flink", f"javac failed on {SOURCE.name}: {(res.stderr or res.stdout).strip()[-500:]}")
        # Only the nested class: the outer ServerFactory of the source is a stub.
        part = out.with_suffix(f".{os.getpid()}.tmp")
        with zipfile.ZipFile(part, "w") as z:
            z.write(Path(tmp) / PATCHED_CLASS, PATCHED_CLASS)
        part.replace(out)  # atomic: a concurrent build writes the same bytes
    return out


def lib_with_patch(s: Settings, with_flink_python: bool) -> Path:
    """A FLINK_LIB_DIR beside the other installed jars (`lib_dir`): links to the
    distribution's lib/ (and opt/'s flink-python for a cluster's JobManager and
    TaskManagers, which do not add it themselves), plus the patch jar. Named by its
    content, so that a changed patch makes a new folder and concurrent jobs never
    rebuild one in use; the same for every home, so that the gateway JVM's class path,
    which its class archive must match (`flink_cds.py`), is too."""
    patch = patch_jar(s)
    jars = [*sorted((flink_home() / "lib").glob("*.jar")), patch]
    if with_flink_python:
        jars.append(flink_python_jar())
    key = hashlib.sha256("\n".join(str(j) for j in jars).encode()).hexdigest()[:12]
    lib = s.endpoints.lib_dir / f"flink-lib-{key}"
    if lib.exists():
        return lib
    s.endpoints.lib_dir.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=".flink-lib-", dir=s.endpoints.lib_dir))
    for jar in jars:
        (part / jar.name).symlink_to(jar)
    try:
        part.rename(lib)
    except OSError:  # another job made it first
        shutil.rmtree(part)
    return lib


def main() -> int:
    try:
        print(patch_jar(Settings.from_env()))
    except StackError as exc:
        print(f"flink_patch: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
