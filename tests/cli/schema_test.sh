#!/usr/bin/env bash
# Every example, ringmaster's normalized output of every example (`validate`, `render --mode crd`),
# and every Kubernetes object `ringmaster render` makes of every job example validate against the
# official schemas (Kubernetes 1.32, training-operator and mpi-operator CRDs, Katib's types,
# Volcano's PodGroup), strictly: third_party/k8s-schemas (../shared/k8s-schemas, with the Kubernetes
# spec cut to the definitions these objects use by tools/trim_k8s_swagger.py).
# Usage: schema_test.sh RINGMASTER_BINARY (run from the source root).
set -eu
bin=$1
validate() { /usr/bin/python3 third_party/k8s-schemas/validate.py \
  --k8s-swagger third_party/k8s-schemas/k8s/swagger-v1.32.subset.json "$@"; }
if ! /usr/bin/python3 -c 'import yaml, jsonschema' 2>/dev/null; then echo "SKIP: python3-yaml / python3-jsonschema missing"; exit 77; fi
validate examples/*.yaml
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/normalized" "$tmp/crd" "$tmp/pods"
for f in examples/*.yaml; do
  "$bin" validate "$f" > "$tmp/normalized/$(basename "$f")"
  "$bin" render --mode crd "$f" > "$tmp/crd/$(basename "$f")"
done
for f in examples/fashion-mnist-*.yaml tests/fixtures/render/gang-*.yaml tests/fixtures/good/mpijob-*.yaml tests/fixtures/good/jaxjob-*.yaml tests/fixtures/good/xgboostjob-*.yaml tests/fixtures/good/paddlejob-*.yaml; do
  grep -q '^kind: TrainJob' "$f" && continue  # a JobSet, below
  "$bin" render "$f" --token schema-test > "$tmp/pods/$(basename "$f")"
done
# Trainer v2: the official TrainJobs and runtimes normalized, and the JobSets they resolve to.
mkdir -p "$tmp/trainer"
for f in tests/fixtures/good/trainjob-*.yaml tests/fixtures/good/trainingruntime-*.yaml third_party/trainer-runtimes/*.yaml; do
  "$bin" validate "$f" > "$tmp/trainer/normalized-$(basename "$f")"
done
for f in tests/fixtures/good/trainjob-*.yaml examples/*trainjob*.yaml tests/fixtures/render/trainjob-*.yaml; do
  "$bin" render --mode jobset "$f" > "$tmp/trainer/jobset-$(basename "$f")"
  "$bin" render "$f" --token schema-test --ssh-key tests/fixtures/render/test_ssh_key > "$tmp/trainer/pods-$(basename "$f")" 2>/dev/null
done
validate "$tmp"/trainer/*.yaml
for f in tests/fixtures/render/gpu-share-*.yaml; do
  "$bin" render "$f" --token schema-test --gpu-sharing time-slicing > "$tmp/pods/$(basename "$f")"
done
validate "$tmp"/normalized/*.yaml "$tmp"/crd/*.yaml "$tmp"/pods/*.yaml
# The scheduler-plugins PodGroup has no schema in the official set: everything else in that
# rendering validates strictly, and the PodGroup is the one object skipped.
"$bin" render tests/fixtures/render/gpu-share-tfjob.yaml --token schema-test --gang-scheduler scheduler-plugins \
  > "$tmp/plugins.yaml"
validate --ignore-missing "$tmp/plugins.yaml" > "$tmp/plugins.out"
cat "$tmp/plugins.out"
[ "$(grep -c SKIP "$tmp/plugins.out")" -eq 1 ] && grep SKIP "$tmp/plugins.out" | grep -q 'PodGroup'
