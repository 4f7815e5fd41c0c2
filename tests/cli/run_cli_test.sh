#!/usr/bin/env bash
# End-to-end checks of `ringmaster run`: a job's replicas as real processes with prefixed output,
# the state directory, exit statuses, Ctrl-C and SIGKILL of the launcher leaving nothing behind, and
# a real `ringmaster train` replica killed with -9 under OnFailure resuming from its checkpoint.
# Usage: run_cli_test.sh RINGMASTER_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
export PATH="$(dirname "$bin"):$PATH"   # replicas run `ringmaster train` by name

batch_job() {  # batch_job NAME RESTART_POLICY SCRIPT -> a Job YAML on stdout
  cat <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: $1}
spec:
  template:
    spec:
      restartPolicy: $2
      containers:
        - name: main
          image: none
          workingDir: $work
          command: [sh, -c, '$3']
YAML
}

out=$("$bin" run tests/fixtures/run/hello-job.yaml --job-dir "$work/hello" 2>"$work/err"); rc=$?
check "a succeeding job exits 0" "[ $rc -eq 0 ]"
check "replica output is prefixed with the replica's name" "grep -qx '\[hello-job-1\] hello from hello' <<<\"\$out\""
check "status.json says Succeeded with 2 succeeded replicas" \
  "/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s[\"phase\"]==\"Succeeded\" and s[\"replicaStatuses\"][\"Job\"][\"succeeded\"]==2' $work/hello/status.json"
check "the phases are reported on stderr" "grep -q 'job hello Succeeded (JobSucceeded)' $work/err"

batch_job failing Never 'echo failing; exit 3' >"$work/failing.yaml"
"$bin" run "$work/failing.yaml" --job-dir "$work/failing" >/dev/null 2>"$work/err"; rc=$?
check "a failing job exits 1" "[ $rc -eq 1 ]"
check "its reason names the replica and the exit code" "grep -q 'replica failing-job-0 failed with exit code 3' $work/err"

printf 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: bad}\nspec: {template: {spec: {restartPolicy: Sometimes, containers: [{name: m, image: i}]}}}\n' >"$work/bad.yaml"
"$bin" run "$work/bad.yaml" --job-dir "$work/bad" >/dev/null 2>"$work/err"; rc=$?
check "an invalid job file exits 2 with its error" "[ $rc -eq 2 ] && grep -q 'bad.yaml:4:' $work/err"

# Ctrl-C stops every replica and records why.
marker="3000.7$$"
batch_job sleeper OnFailure "sleep $marker & sleep $marker; wait" >"$work/sleeper.yaml"
"$bin" run "$work/sleeper.yaml" --job-dir "$work/sleeper" --grace-seconds 2 >/dev/null 2>"$work/err" &
pid=$!
for _ in $(seq 1 300); do [ "$(pgrep -fc "^sleep $marker")" -ge 2 ] && break; sleep 0.01; done
kill -INT $pid
wait $pid; rc=$?
check "Ctrl-C: the job exits 1" "[ $rc -eq 1 ]"
check "Ctrl-C: status.json says Failed (Stopped)" \
  "/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s[\"phase\"]==\"Failed\" and s[\"reason\"]==\"Stopped\"' $work/sleeper/status.json"
check "Ctrl-C: no replica process is left" "[ \$(pgrep -fc '^sleep $marker') -eq 0 ]"

# SIGKILL of the launcher itself: its replicas die with it.
"$bin" run "$work/sleeper.yaml" --job-dir "$work/sleeper2" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ "$(pgrep -fc "^sleep $marker")" -ge 2 ] && break; sleep 0.01; done
kill -9 $pid
wait $pid 2>/dev/null
for _ in $(seq 1 300); do [ "$(pgrep -fc "^sleep $marker")" -eq 0 ] && break; sleep 0.01; done
check "launcher killed with SIGKILL: no orphan replica" "[ \$(pgrep -fc '^sleep $marker') -eq 0 ]"

# status, logs and delete read the job directories under a root.
root="$work/root"
"$bin" run tests/fixtures/run/hello-job.yaml --jobs-root "$root" >/dev/null 2>&1
table=$("$bin" status --jobs-root "$root")
check "status lists the job with its phase and counts" "grep -qE '^hello +Job +Succeeded +JobSucceeded +0 .* 0/2/0$' <<<\"\$table\""
check "status JOB lists its replicas" "\"$bin\" status hello --jobs-root \"$root\" | grep -qE '^hello-job-1 +Job +Succeeded +0  exit code 0$'"
check "logs JOB prints every replica's log, prefixed" "[ \$(\"$bin\" logs hello --jobs-root \"$root\" | grep -c '^\[hello-job-[01]\] hello from hello$') -eq 2 ]"
check "logs JOB REPLICA prints one log, bare" "[ \"\$(\"$bin\" logs hello hello-job-0 --jobs-root \"$root\" | head -1)\" = 'hello from hello' ]"
"$bin" run "$work/sleeper.yaml" --jobs-root "$root" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ "$(pgrep -fc "^sleep $marker")" -ge 2 ] && break; sleep 0.01; done
out=$("$bin" delete sleeper --jobs-root "$root"); rc=$?
wait $pid
check "delete of a running job stops it and removes its directory" "[ $rc -eq 0 ] && [ ! -d $root/sleeper ] && [ \$(pgrep -fc '^sleep $marker') -eq 0 ]"
"$bin" status nosuch --jobs-root "$root" 2>/dev/null; rc=$?
check "status of an unknown job exits 1" "[ $rc -eq 1 ]"

# A real training replica killed with -9 mid-run: OnFailure restarts it, it resumes from its
# checkpoint, the job succeeds.
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then data="--train-limit 16000 --test-limit 500"; else data="--dataset synthetic --synthetic-samples 16000 --test-limit 500"; fi
batch_job trainer OnFailure "exec ringmaster train --model mlp:784-64-10 $data --epochs 3 --checkpoint-dir $work/ck --checkpoint-every 20 --resume --progress lines" >"$work/trainer.yaml"
"$bin" run "$work/trainer.yaml" --job-dir "$work/trainer" --restart-backoff-seconds 0.5 >"$work/train.out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 2000); do ls "$work/ck"/ckpt-*.rmck >/dev/null 2>&1 && break; sleep 0.005; done
pkill -9 -f "ringmaster train --model mlp:784-64-10" 
wait $pid; rc=$?
check "trainer job: succeeds after its replica was killed" "[ $rc -eq 0 ] || { cat $work/err; false; }"
check "trainer job: the replica was restarted once" \
  "/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s[\"restarts\"]==1, s' $work/trainer/status.json"
check "trainer job: the restart resumed from a checkpoint" "grep -q 'resumed from' $work/trainer/logs/trainer-job-0-1.log"
check "trainer job: training output streamed with the prefix" "grep -q '^\[trainer-job-0\] epoch=3 ' $work/train.out"

# The job directory: a new run starts clean; a directory that is not a job's is never touched.
touch "$work/hello/leftover"
"$bin" run tests/fixtures/run/hello-job.yaml --job-dir "$work/hello" >/dev/null 2>&1; rc=$?
check "a new run of a job clears its previous run's directory" "[ $rc -eq 0 ] && [ ! -e $work/hello/leftover ]"
mkdir -p "$work/notajob" && echo keep >"$work/notajob/precious"
"$bin" run tests/fixtures/run/hello-job.yaml --job-dir "$work/notajob" >/dev/null 2>"$work/err"; rc=$?
check "a non-empty directory without a job is refused" "[ $rc -eq 2 ] && grep -q 'holds no job' $work/err"
check "... and left as it was" "[ \"\$(cat $work/notajob/precious)\" = keep ]"

# Suspend and resume a running job from another shell.
batch_job pausable Never 'echo start >> starts; sleep 2' >"$work/pausable.yaml"
"$bin" run "$work/pausable.yaml" --jobs-root "$work/jobs" >"$work/pausable.out" 2>&1 &
launcher=$!
for _ in $(seq 50); do [ -s "$work/starts" ] && break; sleep 0.1; done
"$bin" suspend pausable --jobs-root "$work/jobs" >"$work/suspend.out" 2>&1; rc=$?
check "ringmaster suspend answers when the job is Suspended" "[ $rc -eq 0 ] && grep -q 'Suspended' $work/suspend.out"
check "... and its replica is gone" "! pgrep -f 'echo start >> starts; sleep 2' >/dev/null"
"$bin" status pausable --jobs-root "$work/jobs" >"$work/st.out" 2>&1
check "ringmaster status shows Suspended" "grep -q Suspended $work/st.out"
"$bin" resume pausable --jobs-root "$work/jobs" >/dev/null 2>&1; rc=$?
wait $launcher; lrc=$?
check "after ringmaster resume the job runs again and succeeds" "[ $rc -eq 0 ] && [ $lrc -eq 0 ] && [ \$(wc -l <$work/starts) -eq 2 ]"
"$bin" resume pausable --jobs-root "$work/jobs" >/dev/null 2>"$work/err"; rc=$?
check "resuming a finished job is refused" "[ $rc -eq 1 ] && grep -q 'not running' $work/err"

# run -d: the launcher goes on in the background; status, logs and the outcome are as in the foreground.
batch_job detached Never 'sleep 1; echo finished in the background' >"$work/detached.yaml"
out=$("$bin" run -d "$work/detached.yaml" --jobs-root "$work/jobs" 2>&1); rc=$?
check "run -d returns with the job's name" "[ $rc -eq 0 ] && grep -q 'job detached started in the background' <<<\"\$out\""
"$bin" status detached --jobs-root "$work/jobs" >"$work/st.out" 2>&1
check "... before the job has ended: it is Running" "grep -q Running $work/st.out"
for _ in $(seq 100); do grep -q '"phase": *"Succeeded"' "$work/jobs/detached/status.json" 2>/dev/null && break; sleep 0.1; done
check "the detached job Succeeds on its own" "grep -q '\"phase\": *\"Succeeded\"' $work/jobs/detached/status.json"
check "its replica's output is in its log" "\"$bin\" logs detached --jobs-root $work/jobs | grep -q 'finished in the background'"
check "the launcher's own messages are in launcher.log" "grep -q 'job detached Succeeded' $work/jobs/detached/launcher.log"
# --metrics-port: the Prometheus endpoint shows the phase, the replica counts and the restart.
batch_job metered OnFailure 'c=$(cat mcount 2>/dev/null || echo 0); echo $((c+1)) > mcount; [ $c -ge 1 ] || exit 1; sleep 3' >"$work/metered.yaml"
rm -f "$work/mcount"
"$bin" run "$work/metered.yaml" --job-dir "$work/metered" --metrics-port 0 --restart-backoff-seconds 0.25 >/dev/null 2>"$work/merr" &
pid=$!
for _ in $(seq 100); do [ "$(cat "$work/mcount" 2>/dev/null)" = 2 ] && break; sleep 0.05; done
port=$(sed -n 's|.*metrics at http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$work/merr")
/usr/bin/python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=5).read().decode())" >"$work/metrics.txt" 2>&1
check "metrics: the job is Running" "grep -qx 'ringmaster_job_phase{job=\"metered\",phase=\"Running\"} 1' $work/metrics.txt"
check "metrics: one active replica of type Job" "grep -qx 'ringmaster_job_replicas{job=\"metered\",replica_type=\"Job\",state=\"active\"} 1' $work/metrics.txt"
check "metrics: the restart is counted" "grep -qx 'ringmaster_replica_restarts_total{job=\"metered\",replica=\"metered-job-0\"} 1' $work/metrics.txt"
check "metrics: the restart's back-off is exported" "grep -qx 'ringmaster_replica_backoff_seconds{job=\"metered\",replica=\"metered-job-0\"} 0.25' $work/metrics.txt"
check "metrics: phase durations are exported" "grep -q '^ringmaster_job_phase_seconds_total{job=\"metered\",phase=\"Running\"} [0-9.e-]*$' $work/metrics.txt"
check "metrics: HELP and TYPE lines" "grep -qx '# TYPE ringmaster_job_restarts_total counter' $work/metrics.txt"
wait $pid; rc=$?
check "metrics: the job still succeeds" "[ $rc -eq 0 ]"

# cleanPodPolicy None: the chief's success ends the job, the PS runs on until stopped.
marker="3000.9$$"
cat >"$work/psnone.yaml" <<YAML
apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: psnone}
spec:
  runPolicy: {cleanPodPolicy: None}
  tfReplicaSpecs:
    Chief:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [sh, -c, 'exit 0']}]}}
    PS:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [sleep, "$marker"]}]}}
YAML
# Issue 21 (worker_only_pytorchjob_is_no_world): the operator gives a PyTorchJob without a Master no
# MASTER_ADDR/RANK; its allreduce replicas must fail clearly, not train three separate models.
cat >"$work/workers.yaml" <<YAML
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: workers}
spec:
  pytorchReplicaSpecs:
    Worker:
      replicas: 3
      restartPolicy: Never
      template: {spec: {containers: [{name: pytorch, image: i, command: [ringmaster, train, --strategy, allreduce, --dataset, synthetic, --steps, "2"]}]}}
YAML
"$bin" run "$work/workers.yaml" --jobs-root "$work/jobs" >"$work/out" 2>"$work/err"; rc=$?
check "a Worker-only PyTorchJob of allreduce replicas fails (exit $rc) saying why" \
  "[ $rc -eq 1 ] && grep -q 'PET_NNODES: this replica is one of 3 of its job, but the job gives no WORLD_SIZE, RANK or MASTER_ADDR' $work/out" || { cat "$work/out" "$work/err"; }

# Issue 21 (jaxjob_runs_locally): a JAXJob's workers get the coordinator, their count and their ids;
# the job succeeds when every worker has.
cat >"$work/jax.yaml" <<'YAML'
apiVersion: kubeflow.org/v1
kind: JAXJob
metadata: {name: jx}
spec:
  jaxReplicaSpecs:
    Worker:
      replicas: 3
      template: {spec: {containers: [{name: jax, image: i, command: [sh, -c, 'echo "id=$PROCESS_ID of $NUM_PROCESSES at $COORDINATOR_ADDRESS:$COORDINATOR_PORT"']}]}}
YAML
"$bin" run "$work/jax.yaml" --jobs-root "$work/jobs" >"$work/out" 2>"$work/err"; rc=$?
check "a JAXJob of 3 workers runs and succeeds (exit $rc)" "[ $rc -eq 0 ] && grep -q 'job jx Succeeded' $work/err" || cat "$work/err"
check "... each with its PROCESS_ID, NUM_PROCESSES=3 and worker 0 as coordinator" \
  "grep -q '^\[jx-worker-0\] id=0 of 3 at 127.0.0.1:[0-9]*$' $work/out && grep -q '^\[jx-worker-2\] id=2 of 3 at 127.0.0.1:' $work/out" || cat "$work/out"

# Issue 21 (paddlejob_runs_locally): a PaddleJob in collective mode (Workers only); worker 0 is the
# rendezvous and publishes its own IP as $(POD_IP_DUMMY), which the launcher expands as the
# kubelet does; the args see the expanded PADDLE_MASTER too. It succeeds when every worker has.
cat >"$work/paddle.yaml" <<'YAML'
apiVersion: kubeflow.org/v1
kind: PaddleJob
metadata: {name: pd}
spec:
  paddleReplicaSpecs:
    Worker:
      replicas: 2
      template: {spec: {containers: [{name: paddle, image: i, command: [sh, -c, 'echo "master=$PADDLE_MASTER nodes=$PADDLE_NNODES job=$PADDLE_JOB_ID arg=$0"', '$(PADDLE_MASTER)']}]}}
YAML
"$bin" run "$work/paddle.yaml" --jobs-root "$work/jobs" >"$work/out" 2>"$work/err"; rc=$?
check "a PaddleJob of 2 workers runs and succeeds (exit $rc)" "[ $rc -eq 0 ] && grep -q 'job pd Succeeded' $work/err" || cat "$work/err"
check "... both reach worker 0 at 127.0.0.1, expanded in env and args alike" \
  "grep -q '^\[pd-worker-0\] master=127.0.0.1:\([0-9]*\) nodes=2 job=pd arg=127.0.0.1:\1$' $work/out && grep -q '^\[pd-worker-1\] master=127.0.0.1:[0-9]* nodes=2 job=pd' $work/out" || cat "$work/out"

# Issue 20 item 1 (restart_backoff): a replica that fails at once waits 10 s before its first
# restart by default (before: ~93 restarts a second).
batch_job crashloop OnFailure "exit 1" >"$work/crashloop.yaml"
timeout -s INT 3 "$bin" run "$work/crashloop.yaml" --jobs-root "$work/jobs" >/dev/null 2>"$work/err"
check "restart back-off: no restart in the first 3 s" \
  "[ \$(ls $work/jobs/crashloop/logs | wc -l) -eq 1 ] && grep -q 'back-off 10s restarting failed replica crashloop-job-0 (it ended with exit code 1)' $work/err" || cat $work/err
check "... and events.log stays short" "[ \$(wc -l < $work/jobs/crashloop/events.log) -lt 10 ]"

# Issue 20 item 3 (run_returns_when_replicas_left_running): `run` returns with the job's result;
# a detached launcher watches the PS until `ringmaster delete`.
t0=$(date +%s%N)
timeout 20 "$bin" run "$work/psnone.yaml" --jobs-root "$work/jobs" >"$work/out" 2>"$work/err"; rc=$?
t1=$(date +%s%N)
check "cleanPodPolicy None: run returns with the job's result ($(( (t1 - t0) / 1000000 )) ms)" "[ $rc -eq 0 ]" || cat $work/err
check "... saying what it left running" "grep -q 'cleanPodPolicy None leaves psnone-ps-0 running' $work/err && grep -q 'a detached launcher (pid [0-9]*) watches' $work/err"
check "... the job is Succeeded while the PS runs" "grep -q '\"phase\": *\"Succeeded\"' $work/jobs/psnone/status.json && pgrep -f '^sleep $marker' >/dev/null"
"$bin" status psnone --jobs-root "$work/jobs" >"$work/st.out" 2>&1
check "... status shows the PS and its watcher" "grep -q 'psnone-ps-0 .* Running' $work/st.out && grep -q 'a detached launcher (pid [0-9]*) watches them' $work/st.out" || cat $work/st.out
"$bin" delete psnone --jobs-root "$work/jobs" >/dev/null 2>&1; rc=$?
check "... delete stops it" "[ $rc -eq 0 ] && [ \$(pgrep -fc '^sleep $marker') -eq 0 ] && [ ! -d $work/jobs/psnone ]"

# Issue 20 item 6 (launcher_gone): a launcher killed with -9 takes its replicas with it, and
# status says so instead of Running.
batch_job orphan Never "sleep $marker" >"$work/orphan.yaml"
"$bin" run -d "$work/orphan.yaml" --jobs-root "$work/jobs" >/dev/null 2>&1
for _ in $(seq 100); do pgrep -f "^sleep $marker" >/dev/null && break; sleep 0.05; done
lpid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["launcherPid"])' "$work/jobs/orphan/status.json")
kill -9 "$lpid"
for _ in $(seq 100); do pgrep -f "^sleep $marker" >/dev/null || break; sleep 0.05; done
"$bin" status --jobs-root "$work/jobs" >"$work/st.out" 2>&1
check "launcher gone: status lists the job as Failed (LauncherGone)" "grep -qE '^orphan +Job +Failed +LauncherGone' $work/st.out" || cat $work/st.out
"$bin" status orphan --jobs-root "$work/jobs" >"$work/st.out" 2>&1
check "... and says when it was noticed" "grep -q 'launcher gone at 20[0-9-]*T[0-9:]*Z (pid $lpid no longer runs' $work/st.out" || cat $work/st.out
check "... status.json says so too" "grep -q '\"reason\": *\"LauncherGone\"' $work/jobs/orphan/status.json"
check "... and no replica is left" "! pgrep -f '^sleep $marker' >/dev/null"

# Issue 20 item 6 (private_job_files): job directories and what is in them are the owner's alone.
check "job directories are 0700, logs and state 0600" \
  "[ \$(stat -c %a $work/jobs) = 700 ] && [ \$(stat -c %a $work/jobs/orphan) = 700 ] && [ \$(stat -c %a $work/jobs/orphan/logs) = 700 ] && [ \$(stat -c %a $work/jobs/orphan/status.json) = 600 ] && [ \$(stat -c %a $work/jobs/orphan/events.log) = 600 ] && [ \$(stat -c %a $work/jobs/orphan/logs/orphan-job-0-0.log) = 600 ]"

# CPU limits become affinity: two replicas with a core each run on different cores.
if [ "$(nproc)" -ge 2 ]; then
  cat >"$work/pinned.yaml" <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: pinned}
spec:
  parallelism: 2
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: none
          command: [sh, -c, 'grep Cpus_allowed_list /proc/self/status']
          resources: {limits: {cpu: "1"}}
YAML
  "$bin" run "$work/pinned.yaml" --job-dir "$work/pinned" >"$work/pinned.out" 2>&1; rc=$?
  a=$(sed -n 's/.*Cpus_allowed_list:\s*//p' "$work/pinned/logs/pinned-job-0-0.log")
  b=$(sed -n 's/.*Cpus_allowed_list:\s*//p' "$work/pinned/logs/pinned-job-1-0.log")
  check "cpu limit 1: each replica is pinned to one core of its own" "[ $rc -eq 0 ] && [[ '$a' =~ ^[0-9]+$ ]] && [[ '$b' =~ ^[0-9]+$ ]] && [ '$a' != '$b' ]"
  check "... and status.json records it" "grep -q '\"cpus\": \"$a\"' $work/pinned/status.json"
fi
exit $fail
