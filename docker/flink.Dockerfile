# Lepton Stream Flink image: the official Flink 2.2 image + Python 3 + PyFlink,
# the Kafka SQL connector jar and this project, for the JobManager, the
# TaskManagers and the job client alike (docker-compose.yml, k8s FlinkDeployment),
# and for the other Python processes (alert monitor, producers): one image.
# Linted by hadolint in CI (tests/deploy); never built there.
#
# Build from the repository root:  docker build -f docker/flink.Dockerfile -t lepton-stream/flink:dev .
# Not built on this machine (no Docker engine there). The base tag follows the
# official image's <version>-scala_2.12-java17 naming; 2.2.1 is assumed to be
# published like 2.2.0 (override with --build-arg FLINK_IMAGE=...). Its Ubuntu 24.04
# base has Python 3.12, for which apache-flink 2.2.1, pemja and apache-beam ship wheels.
ARG FLINK_IMAGE=flink:2.2.1-scala_2.12-java17
ARG MAVEN_IMAGE=maven:3.9.9-eclipse-temurin-17

# --- stage 1: resolve the connector jar with Maven, from the project's own pinned POM
# (org.apache.flink:flink-sql-connector-kafka:5.0.0-2.2, a fat jar, transitive deps excluded).
FROM ${MAVEN_IMAGE} AS jars
WORKDIR /build
COPY lepton_stream/stack/maven/flink-connector.pom.xml pom.xml
RUN mvn -B -q -f pom.xml \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DoutputDirectory=/jars \
 && ls -l /jars

# --- stage 2: the runtime image
FROM ${FLINK_IMAGE}
ARG APACHE_FLINK_VERSION=2.2.1
ARG PIP_VERSION=25.0.1
# 0 = root, 9999 = the official image's `flink` user (numeric, so any runtime resolves it).
USER 0

# Python in a virtualenv (the Ubuntu 24.04 system Python is "externally managed").
# The distribution's own python3 3.12.x: the base image tag pins the release, and
# apt versions inside one release only move for security fixes, which we want.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 python3-venv python3-dev; \
    rm -rf /var/lib/apt/lists/*; \
    python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/lepton \
    PYTHONUNBUFFERED=1

# Dependencies first (cached layer): PyFlink pinned, everything else held to the
# versions in requirements/job.in (extras stripped: pip constraints cannot carry them).
COPY requirements/job.in /tmp/job.in
RUN set -eux; \
    sed -e 's/\[[^]]*\]//' /tmp/job.in > /tmp/constraints.txt; \
    pip install --no-cache-dir "pip==${PIP_VERSION}"; \
    pip install --no-cache-dir -c /tmp/constraints.txt "apache-flink==${APACHE_FLINK_VERSION}"

# The project: the library (installed, with its dependencies), the job sources,
# which `flink run -py /opt/lepton/stream_jobs/scoring_job.py` executes (the path
# tests/deploy checks), the producers, and the model repository's metadata the job
# reads (k8s prod mounts the live repository over it).
WORKDIR /opt/lepton
COPY pyproject.toml README.md ./
COPY lepton_stream/ lepton_stream/
COPY stream_jobs/ stream_jobs/
COPY producers/ producers/
COPY model_repo/ model_repo/
RUN pip install --no-cache-dir -c /tmp/constraints.txt . \
 && python -c "import pyflink, lepton_stream; print('pyflink', pyflink.__file__)"

# The connector jar where the job looks for it (LEPTON_LIB_DIR/flink), which ships it
# with the job (pipeline.jars), exactly as locally; not in /opt/flink/lib, where a
# second copy on the classpath would clash. A checkpoint dir owned by flink so a
# named volume / PVC mounted there starts writable.
COPY --from=jars /jars/ /opt/lepton/lib/flink/
ENV LEPTON_LIB_DIR=/opt/lepton/lib \
    LEPTON_MODEL_REPO=/opt/lepton/model_repo \
    LEPTON_HOME=/tmp/lepton
# flink-python moves from opt/ to lib/: the JobManager needs its operators on its own
# classpath to accept a Python job (measured with a standalone cluster from the same
# distribution: ClassNotFoundException for ArrowPythonScalarFunctionOperator without it).
RUN mkdir -p /opt/flink/checkpoints && chown -R 9999:9999 /opt/flink/checkpoints \
 && cp /opt/flink/opt/flink-python-*.jar /opt/flink/lib/

WORKDIR /opt/flink
USER 9999
