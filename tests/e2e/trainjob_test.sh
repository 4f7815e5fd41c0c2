#!/usr/bin/env bash
# Issue 22: Kubeflow Trainer v2 TrainJobs run by `ringmaster run` as the JobSet Trainer resolves
# them to: the Fashion-MNIST example (2 nodes of `ringmaster train` on the built-in
# torch-distributed runtime, placed by PET_*); a multi-step job whose dataset initializer must
# complete before the trainer starts (JobSet dependsOn); real Debian PyTorch on torch-distributed
# and Debian XGBoost on xgboost-distributed, each mapping the runtime's variables to its own
# rendezvous as a user's script does.
# Usage: trainjob_test.sh RINGMASTER_BINARY (run from the source root)
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
export PATH="$(dirname "$bin"):$PATH"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# --- the example: two ringmaster train nodes on torch-distributed -------------------------------
timeout 300 "$bin" run examples/fashion-mnist-trainjob.yaml --jobs-root "$work/jobs" >"$work/ex.out" 2>&1; rc=$?
acc=$(sed -n 's/.*\[fashion-mnist-trainjob-node-0-0\] summary: .* accuracy=\([0-9.]*\) .*/\1/p' "$work/ex.out")
check "the example TrainJob succeeds (exit $rc)" "[ $rc -eq 0 ] && grep -q 'job fashion-mnist-trainjob Succeeded' $work/ex.out" ||
  tail -15 "$work/ex.out"
check "... its two nodes trained one model (ranks=2) to at least 0.88 (${acc:-none})" \
  "grep -q 'node-0-0\] summary: .* ranks=2' $work/ex.out && /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.88 else 1)' '${acc:-0}'"

# --- a multi-step TrainJob: the trainer waits for the dataset initializer ---------------------
cat >"$work/steps.yaml" <<'YAML'
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainingRuntime
metadata: {name: with-data}
spec:
  mlPolicy: {numNodes: 1, torch: {}}
  template:
    spec:
      replicatedJobs:
        - name: dataset-initializer
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: dataset-initializer}}
            spec:
              template:
                spec:
                  containers:
                    - {name: dataset-initializer, image: i, command: [sh, -c, 'sleep 1; echo 42 > dataset.txt']}
        - name: node
          dependsOn: [{name: dataset-initializer, status: Complete}]
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec:
              template:
                spec:
                  containers: [{name: node, image: i}]
---
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: steps}
spec:
  runtimeRef: {name: with-data, kind: TrainingRuntime}
  trainer:
    numNodes: 2
    command: [sh, -c, 'echo "node $PET_NODE_RANK read $(cat dataset.txt)"']
YAML
timeout 60 "$bin" run "$work/steps.yaml" --jobs-root "$work/jobs" >"$work/steps.out" 2>&1; rc=$?
check "multi-step: the TrainJob succeeds (exit $rc)" "[ $rc -eq 0 ] && grep -q 'job steps Succeeded' $work/steps.out" || tail -10 "$work/steps.out"
check "... both nodes started after the initializer completed, and read what it wrote" \
  "grep -q '\[steps-node-0-0\] node 0 read 42' $work/steps.out && grep -q '\[steps-node-0-1\] node 1 read 42' $work/steps.out" ||
  cat "$work/steps.out"
check "... and status.json reports it as Trainer does: Complete, one child Job succeeded per step" \
  "/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); js={j[\"name\"]: j for j in s[\"jobsStatus\"]}; sys.exit(not (s[\"trainJobConditions\"][0][\"type\"] == \"Complete\" and js[\"dataset-initializer\"][\"succeeded\"] == 1 and js[\"node\"][\"succeeded\"] == 1))' $work/jobs/steps/status.json" ||
  cat "$work/jobs/steps/status.json"

# --- initializers and volumes: the dataset initializer (no command: Trainer's image) brings the
# storageUri into the shared volume at /workspace/dataset, where the trainer nodes read it --------
mkdir -p "$work/src/sub" && echo 7 >"$work/src/n.txt" && echo x >"$work/src/sub/y.txt"
initialized() {  # initialized NAME STORAGE_URI
  cat <<YAML
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainingRuntime
metadata: {name: with-init}
spec:
  mlPolicy: {numNodes: 2, torch: {}}
  template:
    spec:
      replicatedJobs:
        - name: dataset-initializer
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: dataset-initializer}}
            spec:
              backoffLimit: 0
              template:
                spec:
                  containers:
                    - name: dataset-initializer
                      image: ghcr.io/kubeflow/trainer/dataset-initializer
                      volumeMounts: [{name: initializer, mountPath: /workspace}]
                  volumes: [{name: initializer, persistentVolumeClaim: {claimName: initializer}}]
        - name: node
          dependsOn: [{name: dataset-initializer, status: Complete}]
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec:
              template:
                spec:
                  containers:
                    - name: node
                      image: i
                      command: [sh, -c, 'echo node \$PET_NODE_RANK read \$(cat /workspace/dataset/n.txt /workspace/dataset/sub/y.txt)']
                      volumeMounts: [{name: initializer, mountPath: /workspace}]
                  volumes: [{name: initializer, persistentVolumeClaim: {claimName: initializer}}]
---
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: $1}
spec:
  runtimeRef: {name: with-init, kind: TrainingRuntime}
  initializer: {dataset: {storageUri: "$2"}}
YAML
}
initialized init "file://$work/src" >"$work/init.yaml"
timeout 60 "$bin" run "$work/init.yaml" --jobs-root "$work/jobs" >"$work/init.out" 2>&1; rc=$?
check "initializer: the TrainJob succeeds (exit $rc)" "[ $rc -eq 0 ]" || tail -20 "$work/init.out"
check "... ringmaster's initializer brought file://... into /workspace/dataset (the job's volume)" \
  "grep -q 'initialized .*/volumes/initializer/dataset from file://.* (2 files' $work/init.out" || cat "$work/init.out"
check "... and both nodes read it at /workspace/dataset (this machine's /workspace untouched)" \
  "grep -q 'node 0 read 7 x' $work/init.out && grep -q 'node 1 read 7 x' $work/init.out && [ ! -e /workspace/dataset/n.txt ]" || cat "$work/init.out"
initialized hub "hf://tatsu-lab/alpaca" >"$work/hub.yaml"
timeout 60 "$bin" run "$work/hub.yaml" --jobs-root "$work/jobs" >"$work/hub.out" 2>&1; rc=$?
check "initializer: hf:// fails the TrainJob with a clear reason, and no node starts (exit $rc)" \
  "[ $rc -eq 1 ] && grep -q 'hf:// needs the network' $work/hub.out && ! grep -q 'node 0 read' $work/hub.out" || cat "$work/hub.out"

# --- the flux mlPolicy needs the Flux Framework in the pods: run refuses it, naming why -----------
{ cat tests/fixtures/good/trainingruntime-flux.yaml; printf -- '---\napiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: fx}\nspec:\n  runtimeRef: {name: flux-distributed}\n'; } >"$work/flux.yaml"
"$bin" run "$work/flux.yaml" --jobs-root "$work/jobs" >"$work/flux.out" 2>&1; rc=$?
check "flux: run refuses it (exit $rc) naming the flux mlPolicy; render takes it" \
  "[ $rc -eq 2 ] && grep -q 'uses the flux mlPolicy, which needs the Flux Framework' $work/flux.out && $bin render $work/flux.yaml >/dev/null 2>&1" || cat "$work/flux.out"

mkdir -p "$work/rt" && cp tests/fixtures/good/trainingruntime-flux.yaml "$work/rt/"
printf 'apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: fx}\nspec:\n  runtimeRef: {name: flux-distributed}\n' >"$work/fx.yaml"
"$bin" render --runtimes "$work/rt" "$work/fx.yaml" >"$work/fx.out" 2>&1; rc=$?
check "--runtimes DIR: a TrainJob whose runtime is only there renders, and run names the flux refusal, not a missing runtime" \
  "[ $rc -eq 0 ] && grep -q 'hostname: fx-node-0-0' $work/fx.out && $bin run --runtimes $work/rt $work/fx.yaml 2>&1 | grep -q 'uses the flux mlPolicy'" || cat "$work/fx.out"

# --- spec.managedBy another controller (MultiKueue): Trainer would skip it; run says so and runs it
printf 'apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: mk}\nspec:\n  managedBy: kueue.x-k8s.io/multikueue\n  runtimeRef: {name: torch-distributed}\n  trainer: {numNodes: 1, command: [sh, -c, "echo ran on node $PET_NODE_RANK"]}\n' >"$work/mk.yaml"
timeout 60 "$bin" run "$work/mk.yaml" --jobs-root "$work/jobs" >"$work/mk.out" 2>&1; rc=$?
check "managedBy MultiKueue: a note that Trainer would leave it, and it runs here (exit $rc)" \
  "[ $rc -eq 0 ] && grep -q 'spec.managedBy is kueue.x-k8s.io/multikueue' $work/mk.out && grep -q 'ran on node 0' $work/mk.out" || cat "$work/mk.out"

# --- the mpi mlPolicy: the launcher's mpirun starts ringmaster train on every node's slots -------
timeout 120 "$bin" run examples/fashion-mnist-mpi-trainjob.yaml --jobs-root "$work/jobs" >"$work/mpi.out" 2>&1; rc=$?
check "MPI TrainJob: the example succeeds (exit $rc)" "[ $rc -eq 0 ]" || tail -20 "$work/mpi.out"
check "... mpirun started 2 ranks of one model (ranks=2) from the local hostfile, reaching 0.88" \
  "grep -q 'summary:.*accuracy=0.8[89].*ranks=2' $work/mpi.out && grep -qx 'localhost slots=2' $work/jobs/fashion-mnist-mpi-trainjob/hostfile" ||
  { grep summary "$work/mpi.out"; cat "$work/jobs/fashion-mnist-mpi-trainjob/hostfile"; }
check "... and the node pods (sshd in the runtime) were not started" "! grep -q 'sshd' $work/mpi.out"
# Trainer's own deepspeed-distributed runtime (mpi, runLauncherAsNode): the launcher is a node too,
# so 2 nodes are the launcher and one `node` pod, and the hostfile holds 2 slots.
printf 'apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: ds}\nspec:\n  runtimeRef: {name: deepspeed-distributed}\n  trainer:\n    numNodes: 2\n    command: [mpirun, -np, "2", ringmaster, train, --strategy=allreduce, --dataset=synthetic, --synthetic-samples=512, --epochs=1]\n' >"$work/ds.yaml"
timeout 60 "$bin" run "$work/ds.yaml" --jobs-root "$work/jobs" >"$work/ds.out" 2>&1; rc=$?
check "deepspeed-distributed (built in): mpirun trains 2 ranks from a 2-slot hostfile (exit $rc)" \
  "[ $rc -eq 0 ] && grep -q 'summary:.*ranks=2' $work/ds.out && grep -qx 'localhost slots=2' $work/jobs/ds/hostfile" || tail -20 "$work/ds.out"
"$bin" status fashion-mnist-mpi-trainjob --jobs-root "$work/jobs" >"$work/mpi.status" 2>&1
check "... ringmaster status lists the child Jobs per replicatedJob (the launcher's succeeded)" \
  "grep -q '^REPLICATED JOB' $work/mpi.status && grep -Eq '^launcher +0 +1 +0 +0 +0$' $work/mpi.status" || cat "$work/mpi.status"

# --- failurePolicy: a failed child Job recreates the JobSet, maxRestarts times at most ------------
restartable() {  # restartable NAME MAX_RESTARTS
  cat <<YAML
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainingRuntime
metadata: {name: once}
spec:
  mlPolicy: {numNodes: 1, torch: {}}
  template:
    spec:
      failurePolicy: {maxRestarts: $2}
      replicatedJobs:
        - name: node
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec:
              backoffLimit: 0
              template:
                spec:
                  containers: [{name: node, image: i, command: [sh, -c, 'mkdir tried 2>/dev/null && exit 3; echo second run']}]
---
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: $1}
spec:
  runtimeRef: {name: once, kind: TrainingRuntime}
YAML
}
restartable restarts 1 >"$work/restarts.yaml"
timeout 60 "$bin" run "$work/restarts.yaml" --jobs-root "$work/jobs" >"$work/restarts.out" 2>&1; rc=$?
check "failurePolicy maxRestarts 1: the JobSet is recreated once and then succeeds (exit $rc)" \
  "[ $rc -eq 0 ] && grep -q 'RestartingJobSet' $work/jobs/restarts/events.log && grep -q 'second run' $work/restarts.out" ||
  { cat "$work/restarts.out"; cat "$work/jobs/restarts/events.log"; }
restartable norestarts 0 >"$work/norestarts.yaml"
timeout 60 "$bin" run "$work/norestarts.yaml" --jobs-root "$work/jobs" >"$work/norestarts.out" 2>&1; rc=$?
check "... and with maxRestarts 0 the first failure fails the TrainJob (exit $rc)" \
  "[ $rc -eq 1 ] && ! grep -q 'second run' $work/norestarts.out && ! grep -q RestartingJobSet $work/jobs/norestarts/events.log" ||
  cat "$work/norestarts.out"

# --- Katib trials of kind TrainJob (Katib v0.19) --------------------------------------------------
cat >"$work/exp.yaml" <<'YAML'
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: tj-sweep}
spec:
  objective: {type: maximize, objectiveMetricName: accuracy}
  algorithm: {algorithmName: grid}
  maxTrialCount: 2
  parallelTrialCount: 2
  parameters:
    - {name: x, parameterType: discrete, feasibleSpace: {list: ["0.25", "0.75"]}}
  trialTemplate:
    primaryContainerName: node
    trialParameters: [{name: x, reference: x}]
    trialSpec:
      apiVersion: trainer.kubeflow.org/v1alpha1
      kind: TrainJob
      spec:
        runtimeRef: {name: torch-distributed}
        trainer:
          numNodes: 2
          command: [sh, -c, 'echo accuracy=${trialParameters.x}']
YAML
timeout 120 "$bin" sweep "$work/exp.yaml" --dir "$work/sweep" >"$work/sweep.out" 2>&1; rc=$?
check "a sweep of TrainJob trials runs both and names the best (exit $rc)" \
  "[ $rc -eq 0 ] && [ \$(grep -c ' Succeeded: ' $work/sweep.out) -eq 2 ] && grep -q '^best: tj-sweep-.* accuracy=0.75' $work/sweep.out" ||
  tail -10 "$work/sweep.out"

# --- real clients -----------------------------------------------------------------------------
if /usr/bin/python3 -c 'import torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null; then
  client=$(cd "$(dirname "$0")" && pwd)/clients/torch_allreduce.py
  cat >"$work/torch.yaml" <<YAML
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: torch-tj}
spec:
  runtimeRef: {name: torch-distributed}
  trainer:
    numNodes: 3
    command: [sh, -c, 'MASTER_ADDR=\$PET_MASTER_ADDR MASTER_PORT=\$PET_MASTER_PORT RANK=\$PET_NODE_RANK WORLD_SIZE=\$PET_NNODES exec /usr/bin/python3 $client']
YAML
  timeout 120 "$bin" run "$work/torch.yaml" --jobs-root "$work/jobs" >"$work/torch.out" 2>&1; rc=$?
  check "PyTorch on torch-distributed: 3 nodes join one world and allreduce to 6 (exit $rc)" \
    "[ $rc -eq 0 ] && [ \$(grep -c 'torch rank=[0-2] world=3 sum=6 nnodes=3' $work/torch.out) -eq 3 ]" || tail -10 "$work/torch.out"
else
  echo "skip: Debian's PyTorch is not installed (apt-get install python3-torch)"
fi
if /usr/bin/python3 -c 'import xgboost' 2>/dev/null; then
  cat >"$work/xgb.yaml" <<YAML
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: xgb-tj}
spec:
  runtimeRef: {name: xgboost-distributed}
  trainer:
    numNodes: 2
    command: [sh, -c, 'MASTER_ADDR=\$DMLC_TRACKER_URI MASTER_PORT=\$DMLC_TRACKER_PORT RANK=\$DMLC_TASK_ID WORLD_SIZE=\$DMLC_NUM_WORKER exec /usr/bin/python3 $PWD/examples/xgboost/train.py --out=$work/xgb']
YAML
  timeout 120 "$bin" run "$work/xgb.yaml" --jobs-root "$work/jobs" >"$work/xgb.out" 2>&1; rc=$?
  check "XGBoost on xgboost-distributed: node 0 runs the tracker, both nodes train one booster (exit $rc)" \
    "[ $rc -eq 0 ] && [ \$(cat $work/xgb/rank-*.sha256 | wc -l) -eq 2 ] && [ \$(sort -u $work/xgb/rank-*.sha256 | wc -l) -eq 1 ]" ||
    tail -10 "$work/xgb.out"
else
  echo "skip: Debian's XGBoost is not installed (apt-get install python3-xgboost)"
fi
exit $fail
