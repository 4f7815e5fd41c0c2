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
for f in examples/fashion-mnist-*.yaml tests/fixtures/render/gang-*.yaml; do
  "$bin" render "$f" --token schema-test > "$tmp/pods/$(basename "$f")"
done
validate "$tmp"/normalized/*.yaml "$tmp"/crd/*.yaml "$tmp"/pods/*.yaml
