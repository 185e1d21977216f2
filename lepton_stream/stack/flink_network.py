"""Where Flink's servers listen, for the local job's MiniCluster and the standalone
cluster (docs/security.md): every one on `Settings.endpoints.host`, the Beam servers of the
Python workers on loopback, and no jar upload or run through the REST API.

Flink's defaults listen on every interface: the REST API (with jar upload and run,
i.e. code execution for anyone who reaches it), the blob server, the RPC and data
ports, and the six Beam gRPC servers of each Python operator.
"""

from __future__ import annotations

import atexit
import os

from lepton_stream.config import Settings
from lepton_stream.stack import flink_cds, flink_logs
from lepton_stream.stack.flink_patch import flink_home, lib_with_patch
from lepton_stream.stack.processes import StackError


def bind_options(s: Settings) -> dict[str, str]:
    host = s.endpoints.host
    return {
        "rest.address": host, "rest.bind-address": host,
        # The JobManager's bind host covers its RPC and blob server; the TaskManager's
        # its RPC and the data (shuffle) server.
        "jobmanager.rpc.address": host, "jobmanager.bind-host": host,
        "taskmanager.host": host, "taskmanager.bind-host": host,
        # The REST API keeps serving job status and job control (stop with a
        # savepoint, cancel) to whoever reaches `host`; these remove the web UI's
        # jar upload and run (/jars/...) and its cancel button.
        "web.submit.enable": "false", "web.cancel.enable": "false",
    }


def prepare_local_job(s: Settings) -> dict[str, str] | None:
    """Call before PyFlink's first use in a process (the gateway JVM starts then):
    the options for the local MiniCluster, or None when this process is the client
    of a cluster (`flink run`, a Kubernetes application), whose configuration decides."""
    if "PYFLINK_GATEWAY_PORT" in os.environ:  # set by Flink's PythonDriver: a gateway exists
        return None
    # The gateway JVM that runs the MiniCluster puts FLINK_LIB_DIR's jars on its class
    # path. PyFlink resets FLINK_LIB_DIR to its own lib/ when FLINK_HOME is unset, and
    # the patch is built for this PyFlink's jars: its distribution is FLINK_HOME.
    try:
        lib = lib_with_patch(s, with_flink_python=False)
    except StackError as exc:
        raise SystemExit(str(exc)) from None
    os.environ["FLINK_LIB_DIR"] = str(lib)
    os.environ["FLINK_HOME"] = str(flink_home())
    jvm_args = os.environ.get("JVM_ARGS", "").split()
    os.environ["JVM_ARGS"] = " ".join([*jvm_args, *(o for o in flink_cds.options(s, lib) if o not in jvm_args)])
    flink_logs.prepare(s)
    if os.environ.get("_python_worker_execution_mode") == "loopback":
        _loopback_worker_pool()
    return bind_options(s)


def _loopback_worker_pool() -> None:
    """In loopback mode TableEnvironment starts a gRPC worker pool in this process,
    listening on [::]:0: replace the method that starts it with one that listens on
    loopback only (the JVM that connects to it is on this machine). A method, not an
    instance: every construction of the (singleton) servicer forgets its address."""
    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.utils import thread_pool_executor
    from pyflink.fn_execution.beam.beam_worker_pool_service import BeamFnLoopbackWorkerPoolServicer

    def start(pool: BeamFnLoopbackWorkerPoolServicer) -> str:
        if not pool._worker_address:
            server = grpc.server(thread_pool_executor.shared_unbounded_instance())
            port = server.add_insecure_port("127.0.0.1:0")
            beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
            server.start()
            pool._worker_address = f"127.0.0.1:{port}"
            atexit.register(server.stop, 1)
        return pool._worker_address

    BeamFnLoopbackWorkerPoolServicer.start = start
