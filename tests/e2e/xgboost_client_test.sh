#!/usr/bin/env bash
# Issue 21, real clients: Debian's XGBoost (python3-xgboost) runs as the replicas of an XGBoostJob
# under `ringmaster run`, from the shipped example (examples/xgboost-synthetic-xgboostjob.yaml and
# examples/xgboost/train.py). Rank 0 starts XGBoost's own Rabit tracker from the injected
# MASTER_ADDR/MASTER_PORT, every rank joins with its RANK and WORLD_SIZE, and the boosters of all
# ranks are identical; the job succeeds with its Master. The same program as a TrainJob on Trainer's
# xgboost runtime (examples/xgboost-trainjob.yaml) trains the same booster.
# Usage: xgboost_client_test.sh RINGMASTER_BINARY (run from the source root)
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
if ! /usr/bin/python3 -c 'import xgboost' 2>/dev/null; then
  echo "skip: Debian's XGBoost is not installed (apt-get install python3-xgboost)"
  exit 77
fi
# The example as it stands, with the checkout in place of the image's /opt/ringmaster and the
# system Python (the one with python3-xgboost).
sed "s#/opt/ringmaster#$PWD#; s#command: \[python3,#command: [/usr/bin/python3,#" \
  examples/xgboost-synthetic-xgboostjob.yaml | sed "s#--rounds=10#--rounds=10, --out=$work/out#" >"$work/job.yaml"
OMP_NUM_THREADS=1 timeout 300 "$bin" run "$work/job.yaml" --jobs-root "$work/jobs" >"$work/log" 2>&1; rc=$?
check "the XGBoostJob of a Master and 2 Workers succeeds (exit $rc)" \
  "[ $rc -eq 0 ] && grep -q 'job xgboost-synthetic Succeeded' $work/log" || tail -20 "$work/log"
for r in 0 1 2; do
  check "... rank $r joined the tracker as rank $r of 3" "grep -q 'rank $r of 3: booster-sha256=' $work/log" || true
done
check "... the Master is rank 0 and worker i is rank i + 1, as the operator ranks them" \
  "grep -q '^\[xgboost-synthetic-master-0\] rank 0 of 3' $work/log && grep -q '^\[xgboost-synthetic-worker-1\] rank 2 of 3' $work/log"
check "... every rank finished with the same booster" \
  "[ \$(cat $work/out/rank-*.sha256 | wc -l) -eq 3 ] && [ \$(sort -u $work/out/rank-*.sha256 | wc -l) -eq 1 ]" ||
  cat "$work"/out/rank-*.sha256

# The same program as a TrainJob on Trainer's xgboost runtime (DMLC_* from its xgboost plugin).
sed "s#/opt/ringmaster#$PWD#; s#command: \[python3,#command: [/usr/bin/python3,#; s#--rounds=10#--rounds=10, --out=$work/tj#" \
  examples/xgboost-trainjob.yaml >"$work/trainjob.yaml"
OMP_NUM_THREADS=1 timeout 300 "$bin" run "$work/trainjob.yaml" --jobs-root "$work/jobs" >"$work/tj.log" 2>&1; rc=$?
check "the xgboost TrainJob of 3 nodes succeeds (exit $rc)" "[ $rc -eq 0 ] && grep -q 'job xgboost-trainjob Succeeded' $work/tj.log" ||
  tail -20 "$work/tj.log"
check "... with the XGBoostJob's booster on every node (the same data, the same model)" \
  "[ \$(cat $work/tj/rank-*.sha256 | wc -l) -eq 3 ] && [ \$(cat $work/tj/rank-*.sha256 $work/out/rank-*.sha256 | sort -u | wc -l) -eq 1 ]"

# Katib trials of kind XGBoostJob (one of Katib's default trial resources): a random search over
# eta and max_depth, the Master's train-error collected from stdout, two trials at a time.
cat >"$work/exp.yaml" <<YAML
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: xgb-sweep}
spec:
  objective: {type: minimize, objectiveMetricName: train-error}
  algorithm: {algorithmName: random, algorithmSettings: [{name: random_state, value: "7"}]}
  maxTrialCount: 3
  parallelTrialCount: 2
  parameters:
    - {name: eta, parameterType: double, feasibleSpace: {min: "0.05", max: "0.5"}}
    - {name: depth, parameterType: int, feasibleSpace: {min: "2", max: "6"}}
  trialTemplate:
    primaryContainerName: xgboost
    trialParameters:
      - {name: eta, reference: eta}
      - {name: depth, reference: depth}
    trialSpec:
      apiVersion: kubeflow.org/v1
      kind: XGBoostJob
      spec:
        xgbReplicaSpecs:
          Master:
            template: &replica
              spec:
                containers:
                  - name: xgboost
                    image: i
                    command: [/usr/bin/python3, $PWD/examples/xgboost/train.py, "--eta=\${trialParameters.eta}", "--max-depth=\${trialParameters.depth}", --rows-per-rank=500]
          Worker:
            template: *replica
YAML
OMP_NUM_THREADS=1 timeout 300 "$bin" sweep "$work/exp.yaml" --dir "$work/sweep" >"$work/sweep.out" 2>&1; rc=$?
check "a sweep of XGBoostJob trials succeeds (exit $rc)" "[ $rc -eq 0 ] && [ \$(grep -c ' Succeeded: ' $work/sweep.out) -eq 3 ]" ||
  tail -20 "$work/sweep.out"
check "... and names its best trial with a train-error" "grep -q '^best: xgb-sweep-.* train-error=0\.[0-9]' $work/sweep.out" ||
  tail -5 "$work/sweep.out"
exit $fail
