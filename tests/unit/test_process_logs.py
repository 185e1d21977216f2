"""Processes of the stack: why one died, in one line; which one listens on a port."""

from pathlib import Path

from lepton_stream.stack.processes import last_line, root_cause

PY4J = """\
Traceback (most recent call last):
  File "scoring_job.py", line 263, in main
    t_env.execute_sql(INSERT).wait()
py4j.protocol.Py4JJavaError: An error occurred while calling o97.wait.
: java.util.concurrent.ExecutionException: org.apache.flink.table.api.TableException: Failed to wait job finish
\tat java.base/java.util.concurrent.CompletableFuture.reportGet(CompletableFuture.java:396)
\tat java.base/java.lang.Thread.run(Thread.java:840)
Caused by: org.apache.flink.runtime.client.JobExecutionException: Job execution failed.
\tat org.apache.flink.runtime.jobmaster.JobResult.toJobExecutionResult(JobResult.java:144)
\t... 12 more
Caused by: java.io.FileNotFoundException: /tmp/savepoints/x/_metadata (No such file or directory)
\tat java.base/java.io.FileInputStream.open0(Native Method)
\t... 40 more

"""


def test_a_java_stack_trace_gives_its_root_cause_not_its_last_frame(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(PY4J)
    why = last_line(log)
    assert why.startswith("py4j.protocol.Py4JJavaError: An error occurred while calling o97.wait.")
    assert why.endswith("(Caused by: java.io.FileNotFoundException: /tmp/savepoints/x/_metadata "
                        "(No such file or directory))")


def test_a_plain_log_gives_its_last_line(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("starting\n  redis: connection refused  \n\n")
    assert last_line(log) == "redis: connection refused"
    assert last_line(tmp_path / "missing.log") == ""


def test_a_python_traceback_wins_over_what_its_jvm_logged_after_it(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text('{"msg": "job starting"}\nTraceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
                   "    main()\nSystemExit: the job's REST port 8081 is taken\n"
                   "java.lang.InterruptedException\n\tat java.base/java.lang.Thread.run(Thread.java:840)\n")
    assert last_line(log) == "SystemExit: the job's REST port 8081 is taken"


def test_root_cause_is_the_innermost_caused_by() -> None:
    assert root_cause(PY4J.split("Traceback", 1)[1]) == ("java.io.FileNotFoundException: /tmp/savepoints/x/_metadata "
                                                         "(No such file or directory)")
    assert root_cause("\nTableException: no sink\n\tat x.y(Z.java:1)\n") == "TableException: no sink"


def test_the_process_listening_on_a_port_is_found_and_waited_for() -> None:
    import os
    import socket
    import subprocess
    import sys

    from lepton_stream.stack.processes import pid_listening_on, wait_gone

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert pid_listening_on("127.0.0.1", port) == os.getpid()
        assert pid_listening_on("10.1.2.3", port) is None  # another address's port of that number
    assert pid_listening_on("127.0.0.1", port) is None
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not wait_gone(child.pid, 0.3)
    finally:
        child.kill()
        child.wait()
    assert wait_gone(child.pid, 1.0)
