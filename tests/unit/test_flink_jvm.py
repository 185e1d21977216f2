from lepton_stream.config import Settings
from lepton_stream.stack.flink_jvm import jit_options, minicluster_jvm_args


def test_the_job_jvm_compiles_with_c1_unless_tiered_is_asked_for():
    s = Settings()
    assert s.job.jvm_jit == "c1"
    assert minicluster_jvm_args(s).split() == [f"-Xmx{s.job.jvm_heap_mb}m", "-XX:TieredStopAtLevel=1"]
    tiered = s.replace(jvm_jit="tiered", jvm_heap_mb=512)
    assert jit_options(tiered) == [] and minicluster_jvm_args(tiered) == "-Xmx512m"
