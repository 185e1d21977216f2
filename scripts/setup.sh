#!/usr/bin/env bash
# Everything Lepton Stream needs on a fresh machine (no Docker engine):
# checks, Python environments, Redis (Debian), Kafka broker and Flink
# connector jars (Maven Central). Idempotent: each step leaves a stamp named
# by the hash of its inputs and is skipped while the stamp matches.
#
# Usage: scripts/setup.sh [demo|test]   (default test: everything)
#   demo  only what `make demo` runs on: the job and Triton environments, Redis,
#         the Kafka and Flink jars (no training environment, Prometheus or validators)
set -euo pipefail
TARGET=${1:-test}
[[ $TARGET == demo || $TARGET == test ]] || { echo "setup: usage: $0 [demo|test]" >&2; exit 2; }
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3.11}
HOME_DIR=${LEPTON_HOME:-$ROOT/.lepton}
STAMPS=$HOME_DIR/stamps
mkdir -p "$STAMPS"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
stamp_ok() { [[ -f $STAMPS/$1 && $(cat "$STAMPS/$1") == "$2" ]]; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# --- checks ---------------------------------------------------------------
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (Python 3.11 is required)"
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null \
  || die "$PYTHON is not Python 3.11"
# Triton's python backend stub embeds libpython: it must exist as a shared library.
"$PYTHON" -c 'import sysconfig,sys; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' \
  || die "$PYTHON was built without a shared libpython (Triton's python backend needs one)"
command -v java >/dev/null || die "java not found (Java 17+ is required for Kafka and Flink)"
JAVA_MAJOR=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
[[ ${JAVA_MAJOR%%.*} -ge 17 ]] || die "Java 17+ required, found ${JAVA_MAJOR:-unknown}"
command -v javac >/dev/null || die "javac not found (a JDK 17+, not only a JRE: it builds the Flink loopback patch)"
command -v mvn >/dev/null || die "mvn not found (Maven fetches the Kafka and Flink connector jars)"

# --- Python environments -------------------------------------------------
make_venv() {  # dir lockfile extra-install-args...
  local dir=$1 lock=$2; shift 2
  local h; h=$(hash_of "$lock" pyproject.toml)
  if stamp_ok "$(basename "$dir")" "$h" && [[ -x $dir/bin/python ]]; then
    say "$dir up to date"; return
  fi
  say "creating $dir from $lock"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install -q --no-deps -r "$lock"
  if (($#)); then "$dir/bin/pip" install -q --no-deps "$@"; fi
  "$dir/bin/pip" check >/dev/null || { "$dir/bin/pip" check; die "$dir has broken requirements"; }
  echo "$h" > "$STAMPS/$(basename "$dir")"
}
make_venv "$ROOT/.venv" requirements/job.lock -e .
make_venv "$ROOT/.venv-triton" requirements/triton.lock
if [[ $TARGET == test ]]; then
  make_venv "$ROOT/.venv-train" requirements/train.lock
  # Training imports lepton_stream from this checkout without its serving dependencies.
  echo "$ROOT" > "$(echo "$ROOT"/.venv-train/lib/python3.11/site-packages)/lepton_stream_checkout.pth"
fi

# --- Debian packages: Redis, Prometheus (server + promtool) ----------------------
apt_install() {  # package=version-pin
  say "installing $1 (apt)"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the package from starting a system service (redis on 6379, prometheus
  # on 9090): `lepton-stream up` and the tests run their own, by PID.
  # policy-rc.d exit 101 = "do not start services".
  POLICY=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    POLICY=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod +x "$POLICY"
  fi
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "$1" >/dev/null || die "apt-get install $1 failed"
  [[ -z $POLICY ]] || $SUDO rm -f "$POLICY"
}
REDIS_PIN='5:7.0.15*'
command -v redis-server >/dev/null || apt_install "redis-server=$REDIS_PIN"
redis-server --version | grep -q 'v=7\.' || die "redis-server 7.x required: $(redis-server --version)"
# Prometheus: the local stack's server and promtool for the rule unit tests.
PROMETHEUS_PIN='2.42.0+ds-5+deb12u1'
if [[ $TARGET == test ]]; then
  command -v promtool >/dev/null || apt_install "prometheus=$PROMETHEUS_PIN"
  promtool --version 2>&1 | grep -q 'version 2\.42\.' || die "promtool 2.42 required: $(promtool --version 2>&1 | head -1)"
fi

# --- Kafka broker and Flink connector jars (Maven Central) ---------------------
fetch_jars() {  # name pom
  local name=$1 pom=$2 h; h=$(hash_of "$pom")
  if stamp_ok "jars-$name" "$h" && [[ -d $HOME_DIR/lib/$name ]]; then say "$name jars up to date"; return; fi
  say "fetching $name jars with Maven"
  rm -rf "$HOME_DIR/lib/$name"
  local log=$HOME_DIR/maven-$name.log
  if ! mvn -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$HOME_DIR/lib/$name" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "Maven could not fetch the $name jars (log $log)"
  fi
  echo "$h" > "$STAMPS/jars-$name"
}
fetch_jars kafka lepton_stream/stack/maven/kafka.pom.xml
fetch_jars flink lepton_stream/stack/maven/flink-connector.pom.xml
# Flink's Python workers' Beam servers on loopback (built once per source and jar).
LEPTON_LIB_DIR=$HOME_DIR/lib "$ROOT/.venv/bin/python" -m lepton_stream.stack.flink_patch >/dev/null \
  || die "building the Flink loopback patch failed"
# The job JVM's class archive: a job starts about a quarter sooner (recorded once, about a minute).
LEPTON_LIB_DIR=$HOME_DIR/lib "$ROOT/.venv/bin/python" -m lepton_stream.stack.flink_cds

# --- deployment validators (tests/deploy: compose, Dockerfiles, k8s manifests) ---
if [[ $TARGET == test ]]; then
  LEPTON_HOME=$HOME_DIR PYTHON=$PYTHON scripts/setup_validators.sh
fi

say "ready ($TARGET)"
