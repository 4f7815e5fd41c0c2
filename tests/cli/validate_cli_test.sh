#!/usr/bin/env bash
# End-to-end checks of `ringmaster validate` as a user runs it: exit statuses, exact messages, output forms.
# Usage: validate_cli_test.sh RINGMASTER_BINARY (run from the source root)
set -u
bin=$1
source "$(dirname "$0")/../lib.sh"

for f in tests/fixtures/bad/*.yaml; do
  err=$("$bin" validate "$f" 2>&1 >/dev/null); rc=$?
  check "$f exits 2" "[ $rc -eq 2 ]"
  check "$f prints its exact messages" '[ "$err" == "$(cat "${f%.yaml}.expected")" ]'
done

out=$("$bin" validate examples/*.yaml tests/fixtures/good/*.yaml 2>/tmp/rm_cli_err.$$); rc=$?
check "examples and good fixtures exit 0" "[ $rc -eq 0 ]"
check "no messages for valid files" "[ ! -s /tmp/rm_cli_err.$$ ]"
docs=$(cat examples/*.yaml tests/fixtures/good/*.yaml | grep -c '^apiVersion:')
check "normalized YAML has one document per input document ($docs)" "[ \$(grep -c '^apiVersion:' <<<\"\$out\") -eq $docs ]"

json=$("$bin" validate -o json examples/fashion-mnist-mpijob.yaml); rc=$?
check "-o json exits 0" "[ $rc -eq 0 ]"
check "-o json is JSON with defaults" "/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d[\"spec\"][\"slotsPerWorker\"]==1 and d[\"spec\"][\"mpiReplicaSpecs\"][\"Launcher\"][\"restartPolicy\"]==\"OnFailure\"' \"\$json\""

plan=$("$bin" validate --plan examples/fashion-mnist-tfjob-ps.yaml)
check "--plan names the pods" "grep -q 'fashion-mnist-ps-worker-0..1' <<<\"\$plan\""

"$bin" validate /nonexistent.yaml 2>/dev/null; rc=$?
check "missing file exits 1" "[ $rc -eq 1 ]"

warn=$("$bin" validate --validate=warn tests/fixtures/bad/tfjob-unknown-field.yaml 2>&1 >/dev/null); rc=$?
check "--validate=warn: unknown fields are warnings, exit 0" "[ $rc -eq 0 ] && grep -q 'warning: spec.tfReplicaSpecs.Worker.replica: unknown field' <<<\"\$warn\""

"$bin" validate 2>/dev/null; rc=$?
check "no file is a usage error (exit 2)" "[ $rc -eq 2 ]"
check "--version" "\"$bin\" --version | grep -q '^ringmaster [0-9]'"
check "--help lists validate" "\"$bin\" --help | grep -q validate"
check "validate --help" "\"$bin\" validate --help | grep -q -- '--validate'"

garbage=$(mktemp); head -c 4096 /dev/urandom > "$garbage"
"$bin" validate "$garbage" 2>/dev/null; rc=$?
check "binary garbage exits 2" "[ $rc -eq 2 ]"
rm -f "$garbage" /tmp/rm_cli_err.$$
exit $fail
