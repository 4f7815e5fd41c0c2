#!/usr/bin/env bash
# Issue 21, real clients: Debian's PyTorch (python3-torch) runs as the replicas of a PyTorchJob
# under `ringmaster run`; torch.distributed's env:// initialisation accepts the environment
# ringmaster injects (jobs/operator_env.h) and an allreduce over gloo gives every rank the right sum.
# (torchrun itself is not exercised: Debian 12's torch 1.13 torchrun fails under its Python 3.11
# before reading any environment, with or without ringmaster.)
# Usage: torch_client_test.sh RINGMASTER_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
if ! OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 -c 'import torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null; then
  echo "skip: Debian's PyTorch is not installed (apt-get install python3-torch)"
  exit 77
fi
client=$(cd "$(dirname "$0")" && pwd)/clients/torch_allreduce.py
cat >"$work/job.yaml" <<YAML
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: torch-env}
spec:
  pytorchReplicaSpecs:
    Master:
      restartPolicy: Never
      template: {spec: {containers: [{name: pytorch, image: i, command: [/usr/bin/python3, $client]}]}}
    Worker:
      replicas: 3
      restartPolicy: Never
      template: {spec: {containers: [{name: pytorch, image: i, command: [/usr/bin/python3, $client]}]}}
YAML
# One thread per replica: Debian's torch uses OpenBLAS's own pool (see the house rules).
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$bin" run "$work/job.yaml" --jobs-root "$work/jobs" >"$work/out" 2>&1; rc=$?
check "a PyTorchJob of 4 torch.distributed replicas succeeds (exit $rc)" "[ $rc -eq 0 ]" || tail -20 "$work/out"
for r in 0 1 2 3; do
  check "... rank $r joined a world of 4 and its allreduce summed to 10" "grep -q 'torch rank=$r world=4 sum=10 nnodes=4' $work/out"
done
check "... the master is rank 0 and worker i is rank i + 1, as the operator ranks them" \
  "grep -q '^\[torch-env-master-0\] torch rank=0 ' $work/out && grep -q '^\[torch-env-worker-2\] torch rank=3 ' $work/out"
exit $fail
