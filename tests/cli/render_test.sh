#!/usr/bin/env bash
# `ringmaster render` against golden files: every job example and the gang-scheduling fixture,
# rendered with a fixed token and ssh key, must match tests/fixtures/render/golden/ byte for byte
# (RINGMASTER_UPDATE_GOLDEN=1 rewrites them). Also: -o DIR, names cut to 63 characters with a
# hash, a fresh token per render without --token, and an Experiment refused in pods mode.
# Usage: render_test.sh RINGMASTER_BINARY (run from the source root).
set -u
bin=$1
source "$(dirname "$0")/../lib.sh"
make_workdir
fixtures=tests/fixtures/render
render() { "$bin" render "$1" --token test-token --ssh-key "$fixtures/test_ssh_key"; }
for f in examples/fashion-mnist-*.yaml "$fixtures"/gang-*.yaml; do
  golden="$fixtures/golden/$(basename "$f")"
  render "$f" >"$work/out.yaml" 2>"$work/err"; rc=$?
  [ "${RINGMASTER_UPDATE_GOLDEN:-0}" = 1 ] && cp "$work/out.yaml" "$golden"
  check "$f renders as $golden" "[ $rc -eq 0 ] && diff -u $golden $work/out.yaml >$work/diff" || { head -40 "$work/diff"; cat "$work/err"; }
done
"$bin" render examples/fashion-mnist-tfjob-ps.yaml -o "$work/dir" >"$work/path" 2>&1
check "-o DIR writes <job>.yaml there" "[ -s $work/dir/fashion-mnist-ps.yaml ] && grep -q fashion-mnist-ps.yaml $work/path"
long=$(grep -h '^  name: \|^    name: ' "$fixtures/golden/gang-pytorchjob.yaml" | awk '{ if (length($2) > 63) print $2 }')
check "every name fits in 63 characters" "[ -z '$long' ]"
check "... the long ones end in a hash" "grep -q 'name: a-rather-long-pytorch-job-name-whose-pod-names-pass-si-[0-9a-f]\{8\}$' $fixtures/golden/gang-pytorchjob.yaml"
t1=$("$bin" render examples/fashion-mnist-tfjob-workers.yaml | grep -A1 stringData | tail -1)
t2=$("$bin" render examples/fashion-mnist-tfjob-workers.yaml | grep -A1 stringData | tail -1)
check "a fresh token per render without --token" "[ -n '$t1' ] && [ '$t1' != '$t2' ]"
"$bin" render examples/random-search-experiment.yaml >"$work/exp.out" 2>&1; rc=$?
check "an Experiment is refused in pods mode (exit 2), pointing at --mode crd and sweep" \
  "[ $rc -eq 2 ] && grep -q 'render it with --mode crd, or run it here with .ringmaster sweep.' $work/exp.out"
"$bin" render examples/random-search-experiment.yaml --mode crd >"$work/crd.out" 2>&1; rc=$?
check "... and printed normalized with --mode crd" "[ $rc -eq 0 ] && grep -q '^kind: Experiment' $work/crd.out"
exit $fail
