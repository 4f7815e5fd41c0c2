#!/usr/bin/env bash
# `ringmaster submit | status | logs | delete` against a recorded fake kubectl
# (tests/k8s/fake_kubectl.py) that answers from fixture pod states and records every call:
# an OOM-killed worker restarted (its pod deleted and created again, its log saved), the backoff
# limit, a pod that never schedules ended by the deadline, kubectl's own error shown verbatim,
# an MPIJob whose workers cleanPodPolicy None leaves, crd mode watching the operator's
# conditions, and a stop by SIGTERM.
# Usage: submit_test.sh RINGMASTER_BINARY (run from the source root).
set -u
bin=$1
source "$(dirname "$0")/../lib.sh"
make_workdir
fx=tests/fixtures/kubectl
fake=$PWD/tests/k8s/fake_kubectl.py
# scenario NAME: a fresh fake cluster answering from scenarios/NAME.json
scenario() {
  export FAKE_KUBECTL_DIR=$work/$1
  mkdir -p "$FAKE_KUBECTL_DIR"
  cp "$fx/scenarios/$1.json" "$FAKE_KUBECTL_DIR/scenario.json"
}
submit() { "$bin" submit --kubectl "$fake" --poll-seconds 0.1 --grace-seconds 1 --restart-backoff-seconds 0.2 --jobs-root "$work/jobs" "$@"; }
# calls [VERB]: the recorded calls, one line each, without the global flags
calls() {
  python3 - "$FAKE_KUBECTL_DIR/calls.jsonl" "${1:-}" <<'PY'
import json, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
for line in open(sys.argv[1]):
    argv = json.loads(line)["argv"]
    while argv and argv[0] in ("--context", "--namespace"):
        argv = argv[2:]
    if not sys.argv[2] or argv[0] == sys.argv[2]:
        print(" ".join(argv))
PY
}
# stdin_of VERB N: what the Nth call of VERB (from 1) read
stdin_of() {
  python3 - "$FAKE_KUBECTL_DIR/calls.jsonl" "$1" "$2" <<'PY'
import json, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
n = 0
for line in open(sys.argv[1]):
    c = json.loads(line)
    argv = [a for a in c["argv"] if a not in ("--namespace", "--context")]
    if sys.argv[2] in argv:
        n += 1
        if n == int(sys.argv[3]):
            print(c["stdin"])
PY
}

# 1. A worker OOM-killed (137) under restartPolicy OnFailure: restarted, and the job succeeds.
scenario oom-restart
submit "$fx/pytorchjob-oom.yaml" >"$work/oom.out" 2>&1; rc=$?
check "oom: the job succeeds after one restart (exit 0)" \
  "[ $rc -eq 0 ] && grep -q 'job oom Succeeded after .* 1 restarts' $work/oom.out" || cat "$work/oom.out"
check "oom: the restart waits out its back-off, as the kubelet's CrashLoopBackOff (issue 20)" \
  "grep -q 'back-off 0.2s restarting failed replica oom-worker-0' $work/oom.out && grep -q 'BackOff back-off 0.2s' $work/jobs/oom/events.log" || cat "$work/oom.out"
check "oom: the 137 is reported as SIGKILL with the pod's reason" \
  "grep -q 'Exited replica oom-worker-0: killed by SIGKILL (137) (OOMKilled)' $work/jobs/oom/events.log"
check "oom: the Secret and both Services are applied first, in namespace team-a" \
  "[ \"\$(calls | sed -n 1p)\" = 'apply -f -' ] && grep -q '^  name: oom-worker-0' <(stdin_of apply 1) && grep -q '^  name: oom-master-0' <(stdin_of apply 1) && grep -q 'kind: Secret' <(stdin_of apply 1) && grep -q -- '\"--namespace\", \"team-a\"' $FAKE_KUBECTL_DIR/calls.jsonl"
check "oom: the pods are created with restartPolicy Never (restarts are ours)" \
  "[ \$(calls create | wc -l) -eq 3 ] && grep -q 'restartPolicy: Never' <(stdin_of create 1) && ! grep -q 'restartPolicy: OnFailure' <(stdin_of create 1; stdin_of create 2; stdin_of create 3)"
check "oom: the failed pod is deleted (waiting) before it is created again" \
  "calls | grep -A1 '^delete pod oom-worker-0 --ignore-not-found --wait=true$' | grep -q '^create -f - -o json$'"
check "oom: each attempt's log was saved before its pod went" \
  "grep -q 'attempt 1' $work/jobs/oom/logs/oom-worker-0-0.log && grep -q 'attempt 2' $work/jobs/oom/logs/oom-worker-0-1.log"
check "oom: status.json says Succeeded with 1 restart" \
  "python3 -c 'import json,sys; s=json.load(open(\"$work/jobs/oom/status.json\")); sys.exit(not (s[\"phase\"]==\"Succeeded\" and s[\"restarts\"]==1))'"
"$bin" status oom --jobs-root "$work/jobs" >"$work/status.out" 2>&1; rc=$?
check "status: the local record and the cluster's pods (kubectl get pods -l <job>)" \
  "[ $rc -eq 0 ] && grep -q '^PyTorchJob oom: Succeeded' $work/status.out && grep -q 'on the cluster (namespace team-a)' $work/status.out && calls get | grep -q '^get pods -l training.kubeflow.org/job-name=oom,app.kubernetes.io/managed-by=ringmaster -o wide$'" || cat "$work/status.out"
"$bin" logs oom oom-worker-0 --jobs-root "$work/jobs" >"$work/logs.out" 2>&1; rc=$?
check "logs: a replica's pod log through kubectl logs" \
  "[ $rc -eq 0 ] && grep -qx 'fake log of oom-worker-0, attempt 2' $work/logs.out && calls logs | grep -qx 'logs oom-worker-0'" || cat "$work/logs.out"
"$bin" delete oom --jobs-root "$work/jobs" >"$work/delete.out" 2>&1; rc=$?
check "delete: every kind submit made, by the job's labels, and the job directory" \
  "[ $rc -eq 0 ] && calls delete | grep -q '^delete pods,services,configmaps,secrets,jobs.batch -l training.kubeflow.org/job-name=oom,app.kubernetes.io/managed-by=ringmaster --ignore-not-found --wait=false$' && [ ! -d $work/jobs/oom ]" || cat "$work/delete.out"

# 2. A worker that is OOM-killed every time: backoffLimit 2, then the job fails and cleanPodPolicy
#    All deletes the master.
scenario backoff
submit "$fx/pytorchjob-oom.yaml" >"$work/backoff.out" 2>&1; rc=$?
check "backoff: Failed (BackoffLimitExceeded) after 2 restarts, exit 1" \
  "[ $rc -eq 1 ] && grep -q 'Failed (BackoffLimitExceeded): Job has reached the specified backoff limit (2 restarts)' $work/backoff.out" || cat "$work/backoff.out"
check "backoff: three attempts of the worker, and the master deleted with its grace period" \
  "[ \$(calls create | wc -l) -eq 4 ] && calls delete | grep -q '^delete pod oom-master-0 --ignore-not-found --wait=false --grace-period=1$'"
check "backoff: the master's log saved before its pod was deleted" "grep -q 'fake log of oom-master-0' $work/jobs/oom/logs/oom-master-0-0.log"
"$bin" logs oom oom-master-0 --jobs-root "$work/jobs" >"$work/logs2.out" 2>&1; rc=$?
check "logs: a replica whose pod is gone prints kubectl's error, then the log saved when it ended" \
  "[ $rc -eq 0 ] && grep -q 'pods \"oom-master-0\" not found' $work/logs2.out && grep -q 'saved when the pod ended: .*oom-master-0-0.log' $work/logs2.out && grep -q 'fake log of oom-master-0, attempt 1' $work/logs2.out" || cat "$work/logs2.out"

# 3. A pod that never schedules: reported once, and activeDeadlineSeconds ends the job.
scenario unschedulable
submit "$fx/tfjob-unschedulable.yaml" -n team-b >"$work/stuck.out" 2>&1; rc=$?
check "unschedulable: the scheduler's message is shown, once" \
  "[ \$(grep -c 'Unschedulable: pod stuck-worker-1: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu' $work/stuck.out) -eq 1 ]" || cat "$work/stuck.out"
check "unschedulable: Failed (DeadlineExceeded), exit 1" \
  "[ $rc -eq 1 ] && grep -q 'Failed (DeadlineExceeded): Job was active longer than specified deadline' $work/stuck.out"
check "unschedulable: both pods deleted (cleanPodPolicy Running), in --namespace team-b" \
  "calls delete | grep -q '^delete pod stuck-worker-0 ' && calls delete | grep -q '^delete pod stuck-worker-1 ' && grep -q 'team-b.svc:2222' <(stdin_of create 1)"

# 4. kubectl's own error, verbatim, with what we were doing.
scenario forbidden
submit "$fx/pytorchjob-oom.yaml" >"$work/forbidden.out" 2>&1; rc=$?
check "kubectl error: exit 1, saying what failed and kubectl's stderr verbatim" \
  "[ $rc -eq 1 ] && grep -q \"^ringmaster submit: applying PyTorchJob oom's Secrets, ConfigMap and Services: .*fake_kubectl.py --namespace team-a apply -f -. exited with 1:\" $work/forbidden.out && grep -q '^from server for: \"STDIN\": secrets \"oom-token\" is forbidden: User \"alice\" cannot get resource \"secrets\" in API group \"\" in the namespace \"team-a\"$' $work/forbidden.out" || cat "$work/forbidden.out"
check "kubectl error: no pod was created" "[ \$(calls create | wc -l) -eq 0 ]"

# 5. An MPIJob: the launcher is a Pod; when it succeeds, cleanPodPolicy None leaves the workers.
scenario mpijob
submit "$fx/mpijob.yaml" --ssh-key tests/fixtures/render/test_ssh_key >"$work/mpi.out" 2>&1; rc=$?
check "mpijob: Succeeded when the launcher pod succeeds (exit 0)" "[ $rc -eq 0 ] && grep -q 'job mpi Succeeded' $work/mpi.out" || cat "$work/mpi.out"
check "mpijob: the ConfigMap with the hostfile, the ssh Secret and the Service applied; no launcher Job" \
  "grep -q 'kind: ConfigMap' <(stdin_of apply 1) && grep -q 'mpi-worker-1.mpi.default.svc slots=1' <(stdin_of apply 1) && grep -q 'name: mpi-ssh' <(stdin_of apply 1) && ! grep -q 'kind: Job' <(stdin_of apply 1)"
check "mpijob: three pods, the launcher a bare Pod with hostname mpi-launcher" \
  "[ \$(calls create | wc -l) -eq 3 ] && (stdin_of create 1; stdin_of create 2; stdin_of create 3) | grep -q 'hostname: mpi-launcher'"
check "mpijob: the workers are left running, and said so; nothing deleted" \
  "grep -q 'cleanPodPolicy None leaves mpi-worker-0, mpi-worker-1 running on the cluster' $work/mpi.out && [ \$(calls delete | wc -l) -eq 0 ]"
submit "$fx/mpijob.yaml" --ssh-key tests/fixtures/render/test_ssh_key >"$work/mpi2.out" 2>&1; rc=$?
check "mpijob again: the pods the first run left are deleted before they are created anew" \
  "[ $rc -eq 0 ] && calls delete | grep -q '^delete pod mpi-worker-0 --ignore-not-found --wait=true$' && calls delete | grep -q '^delete pod mpi-launcher --ignore-not-found --wait=true$' && [ \$(calls create | wc -l) -eq 6 ]" || cat "$work/mpi2.out"
"$bin" delete mpi --jobs-root "$work/jobs" >/dev/null 2>&1
check "mpijob: delete takes the workers with it" "calls delete | grep -q '^delete pods,services,configmaps,secrets,jobs.batch -l training.kubeflow.org/job-name=mpi,'"

# 6. crd mode: the TFJob itself is applied and its conditions are followed to Succeeded.
scenario crd
submit "$fx/tfjob-unschedulable.yaml" --mode crd -n team-b --context prod >"$work/crd.out" 2>&1; rc=$?
check "crd: the TFJob object is applied in team-b with --context prod" \
  "grep -q '^kind: TFJob' <(stdin_of apply 1) && grep -q 'namespace: team-b' <(stdin_of apply 1) && grep -q -- '\"--context\", \"prod\"' $FAKE_KUBECTL_DIR/calls.jsonl" || cat "$work/crd.out"
check "crd: Created, Running, then Succeeded from the operator's conditions (exit 0)" \
  "[ $rc -eq 0 ] && grep -q 'job stuck Created (TFJobCreated)' $work/crd.out && grep -q 'job stuck Running (TFJobRunning)' $work/crd.out && grep -q 'job stuck Succeeded (TFJobSucceeded): TFJob team-b/stuck successfully completed.' $work/crd.out"
check "crd: status.json holds the operator's replica counts" \
  "python3 -c 'import json,sys; s=json.load(open(\"$work/jobs/stuck/status.json\")); sys.exit(not (s[\"phase\"]==\"Succeeded\" and s[\"replicaStatuses\"][\"Worker\"][\"succeeded\"]==2))'"
"$bin" delete stuck --jobs-root "$work/jobs" >/dev/null 2>&1
check "crd: delete removes the TFJob (the operator removes its pods)" "calls delete | grep -q '^delete tfjobs.kubeflow.org stuck --ignore-not-found --wait=false$'"

# 6b. A Trainer v2 TrainJob (issue 22), in each mode.
scenario trainjob
submit "$fx/trainjob-steps.yaml" >"$work/tj.out" 2>&1; rc=$?
check "trainjob pods: Succeeded once both nodes have (exit 0)" "[ $rc -eq 0 ] && grep -q 'job steps Succeeded' $work/tj.out" || cat "$work/tj.out"
check "trainjob pods: the headless Service and token Secret applied in team-a; three pods under JobSet's host names" \
  "grep -q 'clusterIP: None' <(stdin_of apply 1) && grep -q 'namespace: team-a' <(stdin_of apply 1) && [ \$(calls create | wc -l) -eq 3 ] && (stdin_of create 2; stdin_of create 3) | grep -q 'hostname: steps-node-0-1'" || calls
check "trainjob pods: the initializer's pod first, the nodes only after it completed (dependsOn Complete)" \
  "stdin_of create 1 | grep -q 'name: steps-dataset-initializer-0-0' && python3 - $FAKE_KUBECTL_DIR/calls.jsonl <<'PY'
import json, sys
calls = [json.loads(l)[\"argv\"] for l in open(sys.argv[1])]
creates = [i for i, a in enumerate(calls) if \"create\" in a]
lists = [i for i, a in enumerate(calls) if \"get\" in a and \"pods\" in a]
# the initializer is pending 1 listing and running 2: the nodes come after the 4th listing
sys.exit(not (len(creates) == 3 and sum(1 for l in lists if l < creates[1]) >= 4))
PY" || calls
check "trainjob pods: status.json as Trainer reports it (Complete, jobsStatus per replicatedJob)" \
  "python3 -c 'import json,sys; s=json.load(open(\"$work/jobs/steps/status.json\")); js={j[\"name\"]: j for j in s[\"jobsStatus\"]}; sys.exit(not (s[\"trainJobConditions\"][0][\"type\"]==\"Complete\" and js[\"node\"][\"succeeded\"]==1 and js[\"dataset-initializer\"][\"succeeded\"]==1))'" || cat "$work/jobs/steps/status.json"
rm -rf "$work/trainjob"; scenario trainjob  # a fresh cluster and call record
submit "$fx/trainjob-steps.yaml" --mode crd >"$work/tjcrd.out" 2>&1; rc=$?
check "trainjob crd: the TrainingRuntime and the TrainJob applied, Trainer's Complete followed (exit 0)" \
  "[ $rc -eq 0 ] && grep -q '^kind: TrainingRuntime' <(stdin_of apply 1) && grep -q '^kind: TrainJob' <(stdin_of apply 1) && grep -q 'job steps Succeeded (AllJobsCompleted)' $work/tjcrd.out" || cat "$work/tjcrd.out"
rm -rf "$work/trainjob"; scenario trainjob
submit "$fx/trainjob-steps.yaml" --mode jobset >"$work/tjjs.out" 2>&1; rc=$?
check "trainjob jobset: the resolved JobSet applied, its Completed condition followed (exit 0)" \
  "[ $rc -eq 0 ] && grep -q '^kind: JobSet' <(stdin_of apply 1) && ! grep -q '^kind: TrainJob' <(stdin_of apply 1) && grep -q 'job steps Succeeded (AllJobsCompleted)' $work/tjjs.out" || cat "$work/tjjs.out"
submit "$fx/mpijob.yaml" --mode jobset >"$work/nojs.out" 2>&1; rc=$?
check "--mode jobset of an MPIJob is refused (exit 2)" "[ $rc -eq 2 ] && grep -q 'submits Trainer v2 TrainJobs' $work/nojs.out" || cat "$work/nojs.out"

# 7. Suspend and resume, then SIGTERM to submit: the pods are deleted and the job is Failed (Stopped).
scenario running
"$bin" submit --kubectl "$fake" --poll-seconds 0.1 --grace-seconds 1 --jobs-root "$work/jobs" "$fx/pytorchjob-oom.yaml" \
  >"$work/stop.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'PodRunning: pod oom-worker-0' "$work/stop.out" 2>/dev/null && break; sleep 0.1; done
# ringmaster suspend/resume act on a submitted job as on a local one: pods deleted, then created again.
"$bin" suspend oom --jobs-root "$work/jobs" >"$work/suspend.out" 2>&1
check "suspend: the job is Suspended and its pods deleted" \
  "grep -q 'job oom Suspended' $work/suspend.out && calls delete | grep -q '^delete pod oom-master-0 ' && calls delete | grep -q '^delete pod oom-worker-0 '" || cat "$work/suspend.out"
"$bin" resume oom --jobs-root "$work/jobs" >"$work/resume.out" 2>&1
check "resume: both pods created again" "grep -q 'job oom Running' $work/resume.out && [ \$(calls create | wc -l) -eq 4 ]" || cat "$work/resume.out"
for _ in $(seq 100); do [ "$(grep -c 'PodRunning: pod oom-worker-0' "$work/stop.out")" -ge 2 ] && break; sleep 0.1; done
kill -TERM $pid; wait $pid; rc=$?
check "stop: Failed (Stopped), exit 1, both pods deleted" \
  "[ $rc -eq 1 ] && grep -q 'Failed (Stopped)' $work/stop.out && calls delete | grep -q '^delete pod oom-master-0 ' && calls delete | grep -q '^delete pod oom-worker-0 '" || cat "$work/stop.out"

# 8. A kubectl that is not there: the reason, not a hang.
"$bin" submit "$fx/pytorchjob-oom.yaml" --kubectl /no/such/kubectl --jobs-root "$work/jobs2" >"$work/none.out" 2>&1; rc=$?
check "no kubectl: exit 1 naming the binary" "[ $rc -eq 1 ] && grep -q '/no/such/kubectl: cannot execute: not found' $work/none.out" || cat "$work/none.out"
exit $fail
