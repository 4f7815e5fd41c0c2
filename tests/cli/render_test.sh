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
for f in examples/fashion-mnist-*.yaml "$fixtures"/gang-*.yaml tests/fixtures/good/mpijob-*.yaml tests/fixtures/good/jaxjob-*.yaml tests/fixtures/good/xgboostjob-*.yaml tests/fixtures/good/paddlejob-*.yaml; do
  grep -q '^kind: TrainJob' "$f" && continue  # --mode jobset, below
  golden="$fixtures/golden/$(basename "$f")"
  render "$f" >"$work/out.yaml" 2>"$work/err"; rc=$?
  [ "${RINGMASTER_UPDATE_GOLDEN:-0}" = 1 ] && cp "$work/out.yaml" "$golden"
  check "$f renders as $golden" "[ $rc -eq 0 ] && diff -u $golden $work/out.yaml >$work/diff" || { head -40 "$work/diff"; cat "$work/err"; }
done
# Trainer v2 TrainJobs (the official examples): --mode jobset gives the JobSet Trainer creates.
for f in tests/fixtures/good/trainjob-*.yaml examples/*trainjob*.yaml; do
  golden="$fixtures/golden/jobset-$(basename "$f")"
  "$bin" render --mode jobset "$f" --token test-token --ssh-key "$fixtures/test_ssh_key" >"$work/out.yaml" 2>"$work/err"; rc=$?
  [ "${RINGMASTER_UPDATE_GOLDEN:-0}" = 1 ] && cp "$work/out.yaml" "$golden"
  check "$f renders (--mode jobset) as $golden" "[ $rc -eq 0 ] && diff -u $golden $work/out.yaml >$work/diff" || { head -40 "$work/diff"; cat "$work/err"; }
done
# ... and --mode pods (the default) the Pods, Service, Secrets and ConfigMap JobSet and its Jobs make.
for f in tests/fixtures/good/trainjob-*.yaml examples/*trainjob*.yaml tests/fixtures/render/trainjob-*.yaml; do
  golden="$fixtures/golden/pods-$(basename "$f")"
  render "$f" >"$work/out.yaml" 2>"$work/err"; rc=$?
  [ "${RINGMASTER_UPDATE_GOLDEN:-0}" = 1 ] && cp "$work/out.yaml" "$golden"
  check "$f renders (pods) as $golden" "[ $rc -eq 0 ] && diff -u $golden $work/out.yaml >$work/diff" || { head -40 "$work/diff"; cat "$work/err"; }
done
check "a TrainJob's pods: JobSet's host names under the subdomain, the completion index annotated" \
  "grep -q 'hostname: fashion-mnist-trainjob-node-0-1' $fixtures/golden/pods-fashion-mnist-trainjob.yaml && grep -q 'subdomain: fashion-mnist-trainjob' $fixtures/golden/pods-fashion-mnist-trainjob.yaml && grep -q \"batch.kubernetes.io/job-completion-index: \\\"1\\\"\" $fixtures/golden/pods-fashion-mnist-trainjob.yaml"
check "an MPI TrainJob: the ssh Secret and the hostfile of its node pods, as Trainer's mpi plugin writes it" \
  "grep -q 'name: mpi-trainjob-mpi-ssh-auth' $fixtures/golden/pods-trainjob-mpi.yaml && grep -q 'mpi-trainjob-node-0-1.mpi-trainjob slots=2' $fixtures/golden/pods-trainjob-mpi.yaml"
check "a Kueue TrainJob's pods carry its queue label (Kueue's pod integration admits them by it)" \
  "[ \$(grep -c 'kueue.x-k8s.io/queue-name: training-queue' $fixtures/golden/pods-trainjob-03-kueue-integration.yaml) -ge 2 ]"
render tests/fixtures/good/trainjob-05-multi-step.yaml >/dev/null 2>"$work/note"
check "a multi-step TrainJob's pods render with a note that plain pods cannot wait for the initializers" \
  "grep -q 'note: TrainJob .* waits for .*dependsOn' $work/note" || cat "$work/note"
"$bin" render --mode jobset examples/fashion-mnist-tfjob-ps.yaml >"$work/out" 2>&1; rc=$?
check "--mode jobset of a TFJob is refused (exit 2)" "[ $rc -eq 2 ] && grep -q 'renders Trainer v2 TrainJobs' $work/out"
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
# The seed's v1alpha2 MPIJob: kubectl exec instead of ssh.
v1a2=$fixtures/golden/mpijob-v1alpha2-seed.yaml
check "v1alpha2 MPIJob: a ServiceAccount, a Role and a RoleBinding for the launcher; no ssh Secret" \
  "grep -q '^kind: ServiceAccount' $v1a2 && grep -q '^kind: Role$' $v1a2 && grep -q '^kind: RoleBinding' $v1a2 && ! grep -q 'ssh' $v1a2"
check "... the Role lets it exec into exactly the two worker pods" \
  "python3 -c 'import yaml,sys; r=[d for d in yaml.safe_load_all(open(\"$v1a2\")) if d and d[\"kind\"]==\"Role\"][0]; e=[x for x in r[\"rules\"] if x[\"resources\"]==[\"pods/exec\"]][0]; sys.exit(not (e[\"resourceNames\"]==[\"tensorflow-benchmarks-worker-0\",\"tensorflow-benchmarks-worker-1\"] and e[\"verbs\"]==[\"create\"]))'"
check "... mpirun's rsh agent is kubexec.sh, the hostfile names the pods, kubectl comes from an init container" \
  "grep -A1 'OMPI_MCA_plm_rsh_agent' $v1a2 | grep -q /etc/mpi/kubexec.sh && grep -q 'tensorflow-benchmarks-worker-1 slots=1' $v1a2 && grep -q 'kubectl exec' $v1a2 && grep -q 'image: mpioperator/kubectl-delivery' $v1a2 && grep -q 'serviceAccountName: tensorflow-benchmarks-launcher' $v1a2"
check "... the workers idle with sleep 365d" "[ \$(grep -c -- '- 365d' $v1a2) -eq 2 ]"

# Fractional GPUs and the scheduler-plugins PodGroup, by flag.
share=$fixtures/gpu-share-tfjob.yaml
"$bin" render "$share" --token test-token --gang-scheduler scheduler-plugins >"$work/share.yaml" 2>"$work/err"; rc=$?
[ "${RINGMASTER_UPDATE_GOLDEN:-0}" = 1 ] && cp "$work/share.yaml" "$fixtures/golden/gpu-share-tfjob.scheduler-plugins.yaml"
check "$share --gang-scheduler scheduler-plugins renders as its golden file" \
  "[ $rc -eq 0 ] && diff -u $fixtures/golden/gpu-share-tfjob.scheduler-plugins.yaml $work/share.yaml >$work/diff" || { head -40 "$work/diff"; cat "$work/err"; }
check "... a scheduling.x-k8s.io PodGroup with the timeout, pods labelled into it under its scheduler" \
  "grep -q '^apiVersion: scheduling.x-k8s.io/v1alpha1' $work/share.yaml && grep -q 'scheduleTimeoutSeconds: 120' $work/share.yaml && [ \$(grep -c 'scheduling.x-k8s.io/pod-group: shared-gpus' $work/share.yaml) -eq 3 ] && [ \$(grep -c 'schedulerName: scheduler-plugins-scheduler' $work/share.yaml) -eq 3 ]"
check "... a quarter GPU is one nvidia.com/gpu.shared slot on an MPS node, at 25% of its threads" \
  "[ \$(grep -c 'nvidia.com/gpu.shared: 1' $work/share.yaml) -eq 2 ] && [ \$(grep -c 'nvidia.com/gpu.sharing-strategy: mps' $work/share.yaml) -eq 2 ] && [ \$(grep -A1 CUDA_MPS_ACTIVE_THREAD_PERCENTAGE $work/share.yaml | grep -c 'value: \"25\"') -eq 2 ]"
"$bin" render "$share" --gpu-sharing time-slicing --gpu-shared-resource nvidia.com/gpu --scheduler-name my-volcano >"$work/ts.yaml" 2>&1
check "time-slicing: the renamed resource given, no MPS share, a time-slicing node; Volcano under --scheduler-name" \
  "[ \$(grep -c 'nvidia.com/gpu: 1' $work/ts.yaml) -eq 3 ] && ! grep -q CUDA_MPS $work/ts.yaml && grep -q 'nvidia.com/gpu.sharing-strategy: time-slicing' $work/ts.yaml && grep -q '^apiVersion: scheduling.volcano.sh/v1beta1' $work/ts.yaml && [ \$(grep -c 'schedulerName: my-volcano' $work/ts.yaml) -eq 3 ]"
sed 's/"0.25"/"1.5"/' "$share" >"$work/bad-share.yaml"
"$bin" render "$work/bad-share.yaml" >"$work/bad.out" 2>&1; rc=$?
check "a fraction outside (0, 1) is refused naming the replica and the annotation" \
  "[ $rc -eq 1 ] && grep -q 'replica Worker: annotation ringmaster.io/gpu-fraction: expected a number in (0, 1), found \"1.5\"' $work/bad.out" || cat "$work/bad.out"
exit $fail
