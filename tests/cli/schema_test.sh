#!/usr/bin/env bash
# Every example, and ringmaster's normalized output of every example, validates against the official
# schemas (Kubernetes 1.32, training-operator and mpi-operator CRDs, Katib's types) in ../shared/k8s-schemas.
# Usage: schema_test.sh RINGMASTER_BINARY (run from the source root). Exit 77 (skipped) without the schemas.
set -eu
bin=$1
validator=../shared/k8s-schemas/validate.py
if [ ! -f "$validator" ]; then echo "SKIP: $validator not found (the schemas live beside the checkout)"; exit 77; fi
if ! /usr/bin/python3 -c 'import yaml, jsonschema' 2>/dev/null; then echo "SKIP: python3-yaml / python3-jsonschema missing"; exit 77; fi
/usr/bin/python3 "$validator" examples/*.yaml
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in examples/*.yaml; do "$bin" validate "$f" > "$tmp/$(basename "$f")"; done
/usr/bin/python3 "$validator" "$tmp"/*.yaml
