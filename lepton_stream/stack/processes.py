"""Start and stop local server processes by PID, with logs and PID files in one run folder."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class StackError(RuntimeError):
    """One clear line naming the part and the cause."""

    def __init__(self, part: str, cause: str) -> None:
        super().__init__(f"{part}: {cause}")
        self.part = part


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """Free ports below the kernel's ephemeral range (32768+), so that no outgoing
    connection can take one before a server binds it (tests, benchmarks)."""
    import random

    rng = random.Random()
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(20_000, 32_000)
        if port not in ports and port_free(host, port):
            ports.append(port)
    return ports


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def group_pids(pgid: int) -> list[int]:
    """Every process of a process group (a part and its children)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def listening_sockets() -> dict[str, tuple[str, int]]:
    """Every listening TCP socket on this machine: its inode -> (address, port), from
    the LISTEN rows of /proc/net/tcp and tcp6."""
    by_inode = {}
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] != "0A":  # TCP_LISTEN
                continue
            hex_ip, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_ip)
            # The kernel prints each 32-bit word in host byte order (little-endian here).
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = socket.inet_ntop(family, raw)
            by_inode[cols[9]] = (ip.removeprefix("::ffff:"), int(hex_port, 16))  # v4-mapped = that v4 address
    return by_inode


def pid_listening_on(host: str, port: int) -> int | None:
    """The process listening on host:port (or on every address at `port`), if this
    user can see it."""
    inodes = {inode for inode, (ip, p) in listening_sockets().items()
              if p == port and ip in (host, "0.0.0.0", "::")}
    for proc in Path("/proc").iterdir() if inodes else ():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:  # another user's, or gone meanwhile
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return int(proc.name)
    return None


def wait_gone(pid: int, timeout_s: float) -> bool:
    """True once `pid` has exited, False if it still runs after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def start(part: str, cmd: list[str], log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    try:
        # Own session: the part and its children (Triton's stubs) form one
        # process group that `stop` can end by this PID.
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        raise StackError(part, f"cannot start {cmd[0]}: {exc.strerror}") from None
    finally:
        log.close()


def stop(pid: int, timeout_s: float = 20.0) -> None:
    """SIGTERM the process group led by `pid`, SIGKILL after `timeout_s`; returns when
    every process of the group is gone, not only its leader: a leader that exits
    first (the Redis Cluster's supervisor) would leave its masters' ports bound."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not any(pid_alive(p) for p in group_pids(pid)):
                return
            time.sleep(0.1)


# A Java stack trace's frames ("\tat ...", "\t... 12 more") say nothing about why a
# process died, and a JVM beside a Python process (PyFlink's) may still log after
# Python's own traceback: that traceback's exception line, or failing one the last
# line that is no frame, is what a person needs to read first.
_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)|^\s*$")


def root_cause(text: str) -> str:
    """A Java exception's innermost cause from its printed trace (a Py4J error's
    text), else the text's first line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    causes = [ln.removeprefix("Caused by:").strip() for ln in lines if ln.startswith("Caused by:")]
    return (causes[-1] if causes else lines[0] if lines else "")[:500]


def last_line(path: Path) -> str:
    """Why the process that wrote this log ended, in one line: its last Python
    exception (with a Java root cause if it is one from Py4J), else the log's last
    line that is not a stack frame."""
    try:
        lines = path.read_text(errors="replace").splitlines()[-2000:]
    except OSError:
        return ""
    tb = max((i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last):")), default=None)
    if tb is not None:
        rest = [ln for ln in lines[tb + 1:] if not ln.startswith(" ")]  # past its "  File" frames
        if rest:
            java = [ln for ln in rest[1:] if ln.startswith("Caused by:") or ln.startswith(": ")]
            return (rest[0].strip() + (f" ({java[-1].lstrip(': ')})" if java else ""))[:500]
    telling = [ln for ln in lines if not _FRAME.match(ln)]
    return telling[-1].strip()[:300] if telling else ""


def wait_ready(part: str, proc: subprocess.Popen, log_path: Path, check: Callable[[], bool],
               timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(part, f"exited with code {proc.returncode} before it was ready "
                                   f"(log {log_path}): {last_line(log_path)}")
        try:
            if check():
                return
        except Exception:  # not ready yet: connection refused, timeouts
            pass
        time.sleep(0.3)
    raise StackError(part, f"not ready after {timeout_s:.0f} s (log {log_path}): {last_line(log_path)}")
