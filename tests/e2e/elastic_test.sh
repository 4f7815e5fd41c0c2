#!/usr/bin/env bash
# Elastic training with real processes (issue 25): three `ringmaster train --elastic 2:3` workers
# meet at a `ringmaster rendezvous`; one is killed with -9 mid-run (a non-leader, then in a second
# run the leader itself) and the other two finish every epoch, their replicas checked bit-identical
# after every epoch and every change; two of four killed at once; below MIN the survivor fails
# naming who is missing. Clear refusals for --elastic
# without a rendezvous and under mpirun.
# Usage: elastic_test.sh RINGMASTER_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
export RINGMASTER_JOB_TOKEN=elastic-test-token RINGMASTER_JOB_NAME=el
train=(train --strategy allreduce --model mlp:784-32-10 --dataset synthetic --synthetic-samples 6144 --test-limit 500
       --batch-size 32 --commit-every 4 --progress lines --collective-timeout 10)

# Starts the rendezvous; sets $rdzv (its pid) and RINGMASTER_RDZV_ENDPOINT.
start_rendezvous() {
  "$bin" rendezvous --port 0 --job el >"$work/rdzv.out" 2>&1 &
  rdzv=$!
  for _ in $(seq 100); do grep -q '^rendezvous for' "$work/rdzv.out" && break; sleep 0.05; done
  export RINGMASTER_RDZV_ENDPOINT=$(sed -n 's/^rendezvous for elastic job el at \(.*\)$/\1/p' "$work/rdzv.out")
}
# Worker i's log is $work/$1-$i.out; its pid pids[i]. $4: how many (3).
start_workers() {
  local run=$1 range=$2 epochs=$3 n=${4:-3}
  pids=()
  for i in $(seq 0 $((n - 1))); do
    "$bin" "${train[@]}" --elastic "$range" --epochs "$epochs" >"$work/$run-$i.out" 2>&1 &
    pids+=($!)
  done
}
# The worker printing the epoch lines (rank 0 of the first generation).
leader_of() { for i in 0 1 2 3; do grep -q '^epoch=1 ' "$work/$1-$i.out" 2>/dev/null && { echo "$i"; return; }; done; }
# Whether every worker of run $1 that adopted generation $2 logged the same replica checksum.
replicas_agree() {
  local sums
  sums=$(grep -ho "elastic: generation $2 starts at step [0-9]* from rank [0-9]*'s state; replicas agree (checksum [0-9a-f]*)" \
         "$work/$1"-*.out | sed 's/.*checksum //' | sort -u)
  [ -n "$sums" ] && [ "$(wc -l <<<"$sums")" -eq 1 ]
}
# Kills worker $2 of run $1 with -9 and waits for the other two: ok=1 when both exited 0.
kill_one() {
  local run=$1 victim=$2 i
  ok=1
  kill -9 "${pids[$victim]}"
  for i in 0 1 2; do
    [ "$i" = "$victim" ] && continue
    wait "${pids[$i]}" || { ok=0; echo "worker $i failed:"; tail -5 "$work/$run-$i.out"; }
  done
  wait "${pids[$victim]}" 2>/dev/null
}
wait_for_epoch() {
  for _ in $(seq 600); do grep -q "^epoch=$2 " "$work/$1"-*.out && return 0; sleep 0.05; done
  return 1
}

# --- a non-leader killed with -9 --------------------------------------------------------------
start_rendezvous
start_workers kill-other 2:3 12
wait_for_epoch kill-other 1
leader=$(leader_of kill-other)
kill_one kill-other $(( (leader + 1) % 3 ))
check "a worker killed with -9: the other two finish" "[ $ok -eq 1 ]"
# Ranks are the order of arrival in each generation: rank 0 of the second may be either survivor.
check "the summary has every epoch, with 2 ranks at the end" \
  "grep -h '^summary: ' $work/kill-other-*.out | grep -q 'epochs=12 .* ranks=2'"
check "the change is logged with its cause and what it cost" \
  "grep -q 'elastic: generation 0 ends (.*connection to rank [0-9] lost' $work/kill-other-$leader.out &&
   grep -q 'elastic: training again at step [0-9]* in generation 1 with 2 member(s), [0-9]* ms after the change, 0 step(s) rolled back' $work/kill-other-$leader.out"
check "... both survivors hold the same replica in generation 1, bit for bit" "replicas_agree kill-other 1"
kill "$rdzv"; wait "$rdzv" 2>/dev/null

# --- two of four killed with -9 at once -----------------------------------------------------------
start_rendezvous
start_workers kill-two 2:4 12 4
wait_for_epoch kill-two 1
leader=$(leader_of kill-two)
kill -9 "${pids[$(( (leader + 1) % 4 ))]}" "${pids[$(( (leader + 2) % 4 ))]}"
ok=1
for i in 0 1 2 3; do
  [ "$i" = "$(( (leader + 1) % 4 ))" ] || [ "$i" = "$(( (leader + 2) % 4 ))" ] && { wait "${pids[$i]}" 2>/dev/null; continue; }
  wait "${pids[$i]}" || { ok=0; echo "worker $i failed:"; tail -5 "$work/kill-two-$i.out"; }
done
check "two of four killed at once: the other two finish every epoch" \
  "[ $ok -eq 1 ] && grep -h '^summary: ' $work/kill-two-*.out | grep -q 'epochs=12 .* ranks=2'"
check "... and hold the same replica after the change" \
  "replicas_agree kill-two \$(grep -ho 'generation [0-9]* starts at step' $work/kill-two-*.out | sort -u | tail -1 | cut -d' ' -f2)"
kill "$rdzv"; wait "$rdzv" 2>/dev/null

# --- the leader killed with -9: the next rank 0 reports ---------------------------------------
start_rendezvous
start_workers kill-leader 2:3 12
wait_for_epoch kill-leader 2
kill_one kill-leader "$(leader_of kill-leader)"
check "the leader killed with -9: the other two finish" "[ $ok -eq 1 ]"
check "a survivor, now rank 0, prints the last epochs and the summary" \
  "grep -h '^summary: ' $work/kill-leader-*.out | grep -q 'epochs=12 .* ranks=2'"
kill "$rdzv"; wait "$rdzv" 2>/dev/null

# --- below MIN: the survivor waits, then names who is missing ---------------------------------
start_rendezvous
"$bin" "${train[@]}" --elastic 2:2 --elastic-timeout 2 --epochs 200 >"$work/min-0.out" 2>&1 &
a=$!
"$bin" "${train[@]}" --elastic 2:2 --elastic-timeout 2 --epochs 200 >"$work/min-1.out" 2>&1 &
b=$!
wait_for_epoch min 1
survivor_log=$work/min-0.out
if [ "$(leader_of min)" = 1 ]; then t=$a; a=$b; b=$t; survivor_log=$work/min-1.out; fi  # kill the one that is not rank 0
kill -9 "$b"; wait "$b" 2>/dev/null
wait "$a"; rc=$?
check "below MIN the survivor fails (exit 1) naming the worker that is gone" \
  "[ $rc -eq 1 ] && grep -q '1 of at least 2 workers after .*missing from the last generation: .*:$b' $survivor_log" ||
  tail -3 "$survivor_log"
kill "$rdzv"; wait "$rdzv" 2>/dev/null

# --- under `ringmaster run`: the elastic examples, a worker killed with -9 ------------------------
# The launcher serves the rendezvous at PET_RDZV_ENDPOINT and restarts the worker (PyTorchJob:
# OnFailure; TrainJob: its Job recreates the pod); the other two go on, and the restarted one joins
# at their next commit point.
# run_and_kill EXAMPLE JOB VICTIM_LOG_PREFIX LABEL: runs the example, kills the victim's process.
run_and_kill() {
  local example=$1 job=$2 victim_prefix=$3 label=$4 run rc victim status logs
  # Restarted at once (the kubelet would wait 10 s first), so it is back while the others train.
  "$bin" run "$example" --jobs-root "$work/jobs" --restart-backoff-seconds 0 >"$work/$job.out" 2>&1 &
  run=$!
  logs=$work/jobs/$job/logs
  for _ in $(seq 1200); do grep -q '^epoch=1 ' "$logs"/*.log 2>/dev/null && break; sleep 0.05; done
  # The victim's process: its member id (host:pid) at its rank in generation 0.
  victim=$(/usr/bin/python3 - "$logs/$victim_prefix-0.log" <<'PY'
import re, sys
m = re.search(r"generation 0: \d+ member\(s\) \((.*)\), rank (\d+) here", open(sys.argv[1]).read())
print(m.group(1).split(", ")[int(m.group(2))].split(":")[-1] if m else "")
PY
)
  sleep 0.6  # the launcher reads the membership every 0.5 s
  status=$("$bin" status "$job" --jobs-root "$work/jobs" 2>&1)
  check "$label: ringmaster status shows the group's membership" \
    "grep -q 'elastic: generation 0, 3 member(s): ' <<<\"\$status\"" || echo "$status" | tail -3
  [ -n "$victim" ] && kill -9 "$victim"
  wait "$run"; rc=$?
  check "$label under ringmaster run: a worker killed with -9, the job succeeds" \
    "[ -n '$victim' ] && [ $rc -eq 0 ]" || tail -5 "$work/$job.out"
  check "... the killed worker was restarted and joined the group again" \
    "[ -f $logs/$victim_prefix-1.log ] &&
     grep -q 'elastic: generation [1-9][0-9]*: 3 member(s)' $logs/$victim_prefix-1.log"
  check "... and the group finished every epoch" "grep -h '^summary: ' $logs/*.log | grep -q 'epochs=4 .*ranks=3'"
}
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  export PATH="$(dirname "$bin"):$PATH"
  unset RINGMASTER_RDZV_ENDPOINT RINGMASTER_JOB_TOKEN RINGMASTER_JOB_NAME
  run_and_kill examples/elastic-pytorchjob.yaml fashion-mnist-elastic fashion-mnist-elastic-worker-1 "an elastic PyTorchJob"
  run_and_kill examples/elastic-trainjob.yaml fashion-mnist-elastic-trainjob fashion-mnist-elastic-trainjob-node-0-1 \
    "an elastic TrainJob (PET_NNODES=2:3)"
fi

# --- clear refusals ------------------------------------------------------------------------------
out=$(env -u RINGMASTER_RDZV_ENDPOINT "$bin" "${train[@]}" --elastic 2:3 2>&1); rc=$?
check "--elastic without a rendezvous says what it needs" \
  "[ $rc -eq 2 ] && grep -q 'expected RINGMASTER_RDZV_ENDPOINT' <<<\"\$out\""
out=$(OMPI_COMM_WORLD_SIZE=2 "$bin" "${train[@]}" --elastic 2:3 2>&1); rc=$?
check "--elastic under mpirun is refused: mpirun fixes the world" "[ $rc -eq 2 ] && grep -q 'mpirun fixed this world' <<<\"\$out\""
exit $fail
