#!/usr/bin/env bash
# Issue 27: what `ringmaster render` prints trains on simulated hosts. Each example is rendered as a
# user would apply it (pods mode for the Kubeflow kinds, the JobSet for TrainJobs, and pods mode for
# a TrainJob too), unchanged, and run by tests/cluster/kubelet.py: every Pod in a network namespace
# of its own, names resolved as cluster DNS would, Secrets and ConfigMaps mounted, the MPIJob's
# launcher reaching its workers over real ssh (root, mpi-operator's way; and the ringmaster user
# with fsGroup, Trainer's way), or for the seed's v1alpha2 MPIJob through `kubectl exec`. Each must succeed, its training reach the accuracy its local run
# reaches, and the traffic between its ranks go over the bridge (not loopback). What `ringmaster
# submit` sends a (recorded, fake) API server in pods mode trains the same way.
# Skips (77) without root / CAP_NET_ADMIN or without sshd.
# Usage: cluster_test.sh RINGMASTER_BINARY (from the source root)
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
bin_dir=$(dirname "$bin")
source "$(dirname "$0")/../lib.sh"
make_workdir
[ -x /usr/sbin/sshd ] || { echo "SKIP: no /usr/sbin/sshd (scripts/install-deps installs openssh-server)"; exit 77; }
if ! ip netns add rmprobe$$ 2>/dev/null; then echo "SKIP: cannot create network namespaces here (needs root / CAP_NET_ADMIN)"; exit 77; fi
ip netns del rmprobe$$

# run_objects NAME FILE [ARGS...]: the harness on FILE's objects; its output in $work/NAME.out.
run_objects() {
  local name=$1 file=$2
  shift 2
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 timeout 400 /usr/bin/python3 tests/cluster/kubelet.py "$file" \
    --bin-dir "$bin_dir" --workdir "$work/$name" --timeout 300 "$@" >"$work/$name.out" 2>&1
}
# harness NAME MODE [ARGS...]: renders examples/NAME.yaml in MODE and runs it.
harness() {
  local name=$1 mode=$2
  shift 2
  "$bin" render "examples/$name.yaml" --mode "$mode" >"$work/$name-$mode.yaml" 2>"$work/$name-$mode.render" || {
    cat "$work/$name-$mode.render"; return 1; }
  run_objects "$name-$mode" "$work/$name-$mode.yaml" "$@"
}
# accuracy NAME-MODE POD: the test accuracy in that Pod's summary line.
accuracy() { sed -n 's/^summary: .* accuracy=\([0-9.]*\) .*/\1/p' "$work/$1/pods/$2/log" | tail -1; }
at_least() { /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) >= float(sys.argv[2]) else 1)' "$1" "$2"; }
why() { tail -15 "$work/$1.out"; for f in "$work/$1"/pods/*/log; do echo "== $f"; tail -5 "$f"; done; }

# --- the harness itself: DNS with search domains, fieldRef env, restartPolicy, an Indexed Job after the Pods
cat >"$work/self.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: svc}
spec: {clusterIP: None, selector: {app: demo}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: demo}}
spec:
  hostname: a
  subdomain: svc
  restartPolicy: OnFailure
  containers:
    - name: c
      image: busybox
      command: [sh, -c, 'if [ ! -e tried ]; then touch tried; exit 3; fi; echo "pod=$(POD) host=$(hostname)"; getent hosts a.svc b.svc.default.svc.cluster.local svc.default.svc | sort']
      env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, labels: {app: demo}}
spec:
  hostname: b
  subdomain: svc
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [sh, -c, 'sleep 1']}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: idx}
spec:
  completions: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [sh, -c, 'echo index=$JOB_COMPLETION_INDEX']}]
YAML
run_objects self "$work/self.yaml" --until 'a|b|idx-.*'; rc=$?
check "harness: the Pods and the Indexed Job's 2 Pods succeed" "[ $rc -eq 0 ]" || why self
check "... pod a failed once and was restarted in place (OnFailure)" \
  "tail -1 $work/self.out | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)[\"pods\"]; sys.exit(0 if r[\"a\"][\"restarts\"] == 1 else 1)'"
check "... its hostname and fieldRef env are the Pod's" "grep -q '^pod=a host=a\$' $work/self/pods/a/log"
ip_a=$(tail -1 "$work/self.out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pods"]["a"]["ip"])')
ip_b=$(tail -1 "$work/self.out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pods"]["b"]["ip"])')
check "... a.svc (search domain), b's FQDN and the Service resolve to the Pods' addresses" \
  "grep -q '^$ip_a  *a.svc' $work/self/pods/a/log && grep -q '^$ip_b  *b.svc.default.svc.cluster.local' $work/self/pods/a/log &&
   [ \$(grep -c 'svc.default.svc' $work/self/pods/a/log) -ge 2 ]"
check "... the Job's Pods have their completion index" \
  "grep -q '^index=0\$' $work/self/pods/idx-0/log && grep -q '^index=1\$' $work/self/pods/idx-1/log"

# --- PyTorchJob: Master + Worker, allreduce over TCP between the namespaces --------------------------
harness fashion-mnist-pytorchjob pods; rc=$?
a=$(accuracy fashion-mnist-pytorchjob-pods fashion-mnist-ddp-master-0)
check "PyTorchJob: Master and Worker train across 2 namespaces (test accuracy $a >= 0.85)" \
  "[ $rc -eq 0 ] && at_least '$a' 0.85" || why fashion-mnist-pytorchjob-pods
check "... their ranks met over TCP, MASTER_ADDR a Service name resolved to the Master's address" \
  "grep -q '2 ranks over tcp' $work/fashion-mnist-pytorchjob-pods/pods/fashion-mnist-ddp-master-0/log"
# local_accuracy EXAMPLE: the test accuracy of the same example under `ringmaster run` on this host.
local_accuracy() {
  OPENBLAS_NUM_THREADS=1 timeout 300 "$bin" run "examples/$1.yaml" --jobs-root "$work/local-jobs" >"$work/local-$1.log" 2>&1
  sed -n 's/^\[.*\] summary: .* accuracy=\([0-9.]*\) .*/\1/p' "$work/local-$1.log" | head -1
}
l=$(local_accuracy fashion-mnist-pytorchjob)
check "... the very accuracy its local run reaches ($a here, $l under ringmaster run)" "[ -n '$l' ] && [ '$a' = '$l' ]"

# --- TFJob: Chief, Workers and parameter servers over gRPC --------------------------------------------
harness fashion-mnist-tfjob-ps pods; rc=$?
a=$(accuracy fashion-mnist-tfjob-ps-pods fashion-mnist-ps-chief-0)
check "TFJob: Chief, 2 Workers and 2 parameter servers in 5 namespaces (chief's accuracy $a >= 0.85)" \
  "[ $rc -eq 0 ] && at_least '$a' 0.85" || why fashion-mnist-tfjob-ps-pods
check "... the servers reached by the TF_CONFIG names (<job>-ps-N.<ns>.svc:2222)" \
  "grep -q 'parameters initialized by worker' $work/fashion-mnist-tfjob-ps-pods/pods/fashion-mnist-ps-ps-1/log"
harness fashion-mnist-tfjob-workers pods; rc=$?
a=$(accuracy fashion-mnist-tfjob-workers-pods fashion-mnist-tf-workers-worker-0)
check "TFJob of Workers: allreduce from TF_CONFIG (accuracy $a >= 0.85)" "[ $rc -eq 0 ] && at_least '$a' 0.85" ||
  why fashion-mnist-tfjob-workers-pods

# --- MPIJob: the launcher's mpirun reaches sshd in each worker, with the rendered keys and hostfile -------
harness fashion-mnist-mpijob pods; rc=$?
a=$(accuracy fashion-mnist-mpijob-pods fashion-mnist-mpi-launcher-pod)
check "MPIJob: mpirun over ssh to 2 worker namespaces (accuracy $a >= 0.85)" "[ $rc -eq 0 ] && at_least '$a' 0.85" ||
  why fashion-mnist-mpijob-pods
l=$(local_accuracy fashion-mnist-mpijob)
check "... the very accuracy its local run reaches ($a here, $l under ringmaster run)" "[ -n '$l' ] && [ '$a' = '$l' ]"
for w in 0 1; do
  check "... worker $w's sshd accepted the launcher's key (root, /root/.ssh)" \
    "grep -q 'Accepted publickey for root' $work/fashion-mnist-mpijob-pods/pods/fashion-mnist-mpi-worker-$w/log"
done
check "... and its ranks, one per worker, bound their own addresses (ring over TCP)" \
  "grep -q '2 ranks over tcp' $work/fashion-mnist-mpijob-pods/pods/fashion-mnist-mpi-launcher-pod/log"

# --- the seed's MPIJob v1alpha2: mpirun's rsh agent is kubexec.sh (`kubectl exec`, played by the harness)
"$bin" render tests/fixtures/cluster/mpijob-v1alpha2.yaml >"$work/v1alpha2.yaml" 2>"$work/v1alpha2.render"
run_objects v1alpha2 "$work/v1alpha2.yaml"; rc=$?
a=$(accuracy v1alpha2 mpi-v1alpha2-launcher-pod)
check "MPIJob v1alpha2: mpirun reaches its workers through kubectl exec (accuracy $a >= 0.85)" \
  "[ $rc -eq 0 ] && at_least '$a' 0.85 && grep -q 'kubectl exec mpi-v1alpha2-worker-1 -- /bin/sh -c' $work/v1alpha2/pods/mpi-v1alpha2-launcher-pod/log" ||
  why v1alpha2

# --- XGBoostJob: Debian's XGBoost, Rabit tracker on the Master ------------------------------------------
harness xgboost-synthetic-xgboostjob pods; rc=$?
check "XGBoostJob: Master and 2 Workers with real XGBoost" "[ $rc -eq 0 ]" || why xgboost-synthetic-xgboostjob-pods
check "... one booster on all three" \
  "[ \$(cat $work/xgboost-synthetic-xgboostjob-pods/pods/*/log | sed -n 's/.*booster-sha256=//p' | sort -u | wc -l) -eq 1 ] &&
   [ \$(grep -l booster-sha256 $work/xgboost-synthetic-xgboostjob-pods/pods/*/log | wc -l) -eq 3 ]"

# --- TrainJobs as their JobSets: torch, mpi (non-root, fsGroup), xgboost --------------------------------
harness fashion-mnist-trainjob jobset; rc=$?
a=$(accuracy fashion-mnist-trainjob-jobset fashion-mnist-trainjob-node-0-0)
check "TrainJob (torch runtime) as its JobSet: 2 nodes (accuracy $a >= 0.85)" "[ $rc -eq 0 ] && at_least '$a' 0.85" ||
  why fashion-mnist-trainjob-jobset
harness fashion-mnist-mpi-trainjob jobset; rc=$?
a=$(accuracy fashion-mnist-mpi-trainjob-jobset fashion-mnist-mpi-trainjob-launcher-0-0)
check "TrainJob (mpi runtime) as its JobSet + Secret + ConfigMap: the launcher after its nodes (accuracy $a >= 0.85)" \
  "[ $rc -eq 0 ] && at_least '$a' 0.85" || why fashion-mnist-mpi-trainjob-jobset
check "... over ssh as the image's user, its keys readable through fsGroup" \
  "grep -q 'Accepted publickey for ringmaster' $work/fashion-mnist-mpi-trainjob-jobset/pods/fashion-mnist-mpi-trainjob-node-0-1/log"
harness xgboost-trainjob jobset; rc=$?
check "TrainJob (xgboost runtime) as its JobSet: 3 nodes, one booster" \
  "[ $rc -eq 0 ] && [ \$(cat $work/xgboost-trainjob-jobset/pods/*/log | sed -n 's/.*booster-sha256=//p' | sort -u | wc -l) -eq 1 ]" ||
  why xgboost-trainjob-jobset

# --- pods mode of a TrainJob, and an elastic one (the rendezvous Pod ringmaster adds) --------------------
harness fashion-mnist-trainjob pods; rc=$?
check "TrainJob in pods mode (the Pods JobSet would make)" "[ $rc -eq 0 ]" || why fashion-mnist-trainjob-pods
harness elastic-pytorchjob pods; rc=$?
a=$(cat $work/elastic-pytorchjob-pods/pods/*/log | sed -n 's/^summary: .* accuracy=\([0-9.]*\) .*/\1/p' | tail -1)  # rank 0 is whoever the generation made it
check "elastic PyTorchJob: 3 workers and the rendezvous Pod (accuracy $a >= 0.85)" "[ $rc -eq 0 ] && at_least '$a' 0.85" ||
  why elastic-pytorchjob-pods
harness elastic-trainjob jobset; rc=$?
a=$(cat $work/elastic-trainjob-jobset/pods/*/log | sed -n 's/^summary: .* accuracy=\([0-9.]*\) .*/\1/p' | tail -1)
check "elastic TrainJob as its JobSet, with ringmaster's rendezvous Pod and token beside it (accuracy $a >= 0.85)" \
  "[ $rc -eq 0 ] && at_least '$a' 0.85" || why elastic-trainjob-jobset

# --- ringmaster submit (pods mode): what it sends the API server (the recorded fake kubectl) trains ----
export FAKE_KUBECTL_DIR=$work/submit
mkdir -p "$FAKE_KUBECTL_DIR"
echo '{"default": [{"lists": 2, "status": "running"}, {"status": "succeeded"}]}' >"$FAKE_KUBECTL_DIR/scenario.json"
"$bin" submit examples/fashion-mnist-pytorchjob.yaml --kubectl "$PWD/tests/k8s/fake_kubectl.py" --poll-seconds 0.1 \
  --jobs-root "$work/jobs" >"$work/submit.log" 2>&1; rc=$?
/usr/bin/python3 - "$FAKE_KUBECTL_DIR/calls.jsonl" >"$work/submitted.yaml" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    call = json.loads(line)
    argv = call["argv"]
    while argv and argv[0] in ("--context", "--namespace"):  # kubectl's global flags
        argv = argv[2:]
    if argv and argv[0] in ("apply", "create") and call["stdin"]:
        print("---\n" + call["stdin"])
PY
check "submit applied the job through the fake API server (exit $rc)" "[ $rc -eq 0 ] && grep -q fashion-mnist-ddp-worker-0 $work/submitted.yaml" ||
  tail -5 "$work/submit.log"
run_objects submitted "$work/submitted.yaml"; rc=$?
a=$(accuracy submitted fashion-mnist-ddp-master-0)
check "... and what it applied trains on the simulated hosts (accuracy $a >= 0.85)" "[ $rc -eq 0 ] && at_least '$a' 0.85" ||
  why submitted
exit $fail
