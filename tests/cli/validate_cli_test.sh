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

# Issue 20 items 4 and 6: bounded inputs, refused before the work with the limit named.
big=$(mktemp -d)
head -c 9000000 /dev/zero | tr '\0' 'a' >"$big/big.yaml"
err=$("$bin" validate "$big/big.yaml" 2>&1 >/dev/null); rc=$?
check "oversize_file: a file over 8 MiB is invalid input (exit 2), named once" \
  "[ $rc -eq 2 ] && [ \"\$err\" = \"$big/big.yaml: error: expected at most 8388608 bytes (the loader's limit for one file), found more\" ]" || echo "$err"
err=$("$bin" validate "$big/none.yaml" 2>&1 >/dev/null); rc=$?
check "a missing file exits 1, named once" "[ $rc -eq 1 ] && [ \"\$err\" = \"$big/none.yaml: error: no such file\" ]" || echo "$err"
/usr/bin/python3 -c 'import sys; open(sys.argv[1], "w").write("a: " + "[" * 100000 + "]" * 100000 + "\n")' "$big/deep.yaml"
err=$("$bin" validate "$big/deep.yaml" 2>&1 >/dev/null); rc=$?
check "deep_nesting: 100,000 levels are refused at level 101 (exit 2)" \
  "[ $rc -eq 2 ] && grep -q 'deep.yaml:1:103: error: expected YAML nested at most 100 levels deep' <<<\"\$err\"" || echo "$err"
cat >"$big/huge.yaml" <<'YAML'
apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: huge}
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 100000
      template: {spec: {containers: [{name: tensorflow, image: i, command: [sh, -c, 'exit 0']}]}}
YAML
for cmd in validate render run; do
  extra=(); [ $cmd = run ] && extra=(--jobs-root "$big/jobs")
  out=$("$bin" $cmd "$big/huge.yaml" "${extra[@]}" 2>"$big/err"); rc=$?
  check "many_replicas: $cmd refuses 100,000 replicas (exit $rc), naming the field and --max-replicas" \
    "[ $rc -eq 2 ] && [ -z \"\$out\" ] && grep -q 'huge.yaml:7:17: error: spec.tfReplicaSpecs.Worker.replicas: expected at most 10000 replicas of one type.*--max-replicas' $big/err" || cat "$big/err"
done
sed -i 's/replicas: 100000/replicas: 200/' "$big/huge.yaml"
"$bin" run "$big/huge.yaml" --jobs-root "$big/jobs" --max-replicas 64 >/dev/null 2>"$big/err"; rc=$?
check "... run refuses more replicas than this machine runs (--max-replicas 64)" \
  "[ $rc -eq 2 ] && grep -q 'job huge has 200 replicas; this machine runs at most 64 at once (--max-replicas)' $big/err" || cat "$big/err"
check "... and started nothing" "[ ! -d $big/jobs/huge ]"
# render streams: memory is one object's, not the job's (1,500 TF_CONFIG-carrying pods, ~90 MB of YAML
# if held at once); the first objects are out before the last is made.
sed -i "s/replicas: 200/replicas: 1500/" "$big/huge.yaml"
rss=$( { /usr/bin/time -f '%M' "$bin" render "$big/huge.yaml" | wc -c >"$big/bytes"; } 2>&1 | tail -1)
check "render_streamed: $(cat "$big/bytes") bytes rendered in $((rss / 1024)) MiB of memory" "[ \$(cat $big/bytes) -gt 50000000 ] && [ $rss -lt 60000 ]"
rm -rf "$big"
# Issue 22 (first slice): a Trainer v2 TrainJob's plan is the JobSet it resolves to on its runtime
# (the built-in torch-distributed here); a runtime found nowhere is a warning for validate and an
# error for --plan; --runtimes DIR is searched.
"$bin" validate --plan tests/fixtures/good/trainjob-01-multi-node.yaml >"$big.plan" 2>&1; rc=$?
check "trainjob: --plan prints the JobSet on the built-in torch-distributed runtime" \
  "[ $rc -eq 0 ] && grep -q '^kind: JobSet' $big.plan && grep -q 'built in: Trainer v2.3.0 manifests/base/runtimes/torch_distributed.yaml' $big.plan && grep -q 'value: multi-node-example-node-0-0.multi-node-example' $big.plan" ||
  head -20 "$big.plan"
sed 's/name: torch-distributed/name: my-runtime/' tests/fixtures/good/trainjob-01-multi-node.yaml >"$big.tj.yaml"
"$bin" validate "$big.tj.yaml" >/dev/null 2>"$big.err"; rc=$?
check "trainjob: an unknown runtime is a warning for validate (exit 0)" "[ $rc -eq 0 ] && grep -q 'warning: spec.runtimeRef: no ClusterTrainingRuntime my-runtime' $big.err" || cat "$big.err"
"$bin" validate --plan "$big.tj.yaml" >/dev/null 2>"$big.err"; rc=$?
check "... and an error for --plan (exit 2), listing the runtimes there are" "[ $rc -eq 2 ] && grep -q 'error: spec.runtimeRef: no ClusterTrainingRuntime my-runtime.*there are: .*torch-distributed' $big.err" || cat "$big.err"
mkdir -p "$big.rt" && sed 's/name: torch-distributed/name: my-runtime/' third_party/trainer-runtimes/torch_distributed.yaml >"$big.rt/mine.yaml"
"$bin" validate --plan --runtimes "$big.rt" "$big.tj.yaml" >"$big.plan" 2>&1; rc=$?
check "... found in --runtimes DIR" "[ $rc -eq 0 ] && grep -q 'ClusterTrainingRuntime my-runtime ($big.rt/mine.yaml)' $big.plan" || head -3 "$big.plan"
rm -rf "$big.plan" "$big.tj.yaml" "$big.err" "$big.rt"
exit $fail
