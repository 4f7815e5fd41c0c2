#!/usr/bin/env bash
# Data-parallel training with real processes, every way a user starts it: mpirun -np 2 (tcp, shm
# and mpi collectives), PyTorch-style environment, and the PyTorchJob, MPIJob and TFJob examples
# under `ringmaster run` reaching 0.88 test accuracy. Failures: a rank killed with -9 or stopped
# fails the other rank with a clear error within the timeout; under the launcher with OnFailure
# the PyTorchJob restarts, resumes from its checkpoint and still reaches 0.88.
# Usage: data_parallel_test.sh RINGMASTER_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
export PATH="$(dirname "$bin"):$PATH"   # replicas and mpirun ranks run `ringmaster` by name
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "skip: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"
  exit 77
fi
small=(--epochs 1 --train-limit 6000 --test-limit 1000 --progress lines)
accuracy_of() { sed -n 's/.*summary: .* accuracy=\([0-9.]*\) .*/\1/p' "$1" | tail -1; }
at_least() { /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) >= float(sys.argv[2]) else 1)' "$1" "$2"; }

# --- mpirun, as Horovod programs are started -------------------------------------------------
for backend in tcp shm mpi; do
  mpirun --allow-run-as-root --oversubscribe -np 2 --bind-to none \
    ringmaster train --strategy allreduce --collectives $backend "${small[@]}" >"$work/mpi-$backend.out" 2>&1; rc=$?
  check "mpirun -np 2 over $backend trains" "[ $rc -eq 0 ] && grep -q 'ranks=2' $work/mpi-$backend.out"
  check "mpirun -np 2 over $backend: only rank 0 reports" "[ \$(grep -c '^summary:' $work/mpi-$backend.out) -eq 1 ]"
done
check "the three backends train the same model" \
  "[ \"\$(accuracy_of $work/mpi-tcp.out)\" = \"\$(accuracy_of $work/mpi-mpi.out)\" ] && [ -n \"\$(accuracy_of $work/mpi-tcp.out)\" ]"

# --- --balance auto: a rank slowed on purpose gets less of every step ------------------------
mpirun --allow-run-as-root --oversubscribe -np 2 --bind-to none \
  ringmaster train --strategy allreduce "${small[@]}" --balance auto --balance-warmup-steps 10 --slow-rank 1:3 \
  >"$work/balance.out" 2>&1; rc=$?
batches=$(sed -n 's/.*rank_batches=\([0-9]*\),\([0-9]*\).*/\1 \2/p' "$work/balance.out")
check "--balance auto with rank 1 three times slower trains" "[ $rc -eq 0 ] && [ -n '$batches' ]"
b0=${batches% *} b1=${batches#* }
# Rank 1 is 3x slower: the split should be near 3:1. At least 3:2 (an even split is 1:1) leaves room
# for a loaded machine, whose noise squeezes the measured ratio (a CI run measured 170:86).
check "... and gives rank 0 at least 1.5x rank 1's batch ($b0 and $b1)" "[ \$((2 * ${b0:-0})) -ge \$((3 * ${b1:-1})) ]"
acc_even=$(accuracy_of "$work/mpi-tcp.out") acc_balanced=$(accuracy_of "$work/balance.out")
check "... with the even split's accuracy ($acc_balanced vs $acc_even: the same update)" \
  "/usr/bin/python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1] or 9) - float(sys.argv[2] or 0)) <= 0.005 else 1)' '$acc_balanced' '$acc_even'"
grep 'balance:' "$work/balance.out" | tail -1

# --- a rank that dies or hangs fails the others within the timeout ---------------------------
start_ranks() {  # start_ranks PORT -> pids in $pid0 $pid1, output in $work/r{0,1}.{out,err}
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$1 RINGMASTER_JOB_TOKEN=t \
      ringmaster train --strategy allreduce --collective-timeout 8 --epochs 20 --progress lines \
      >"$work/r$r.out" 2>"$work/r$r.err" &
    eval "pid$r=$!"
  done
  for _ in $(seq 100); do grep -q '^epoch=1 ' "$work/r0.out" 2>/dev/null && break; sleep 0.2; done
}
port=$((20000 + RANDOM % 20000))
start_ranks $port
kill -9 "$pid1"
t0=$(date +%s)
wait "$pid0"; rc=$?
t1=$(date +%s)
check "rank 0 fails when rank 1 is killed" "[ $rc -ne 0 ]"
check "... within the timeout ($((t1 - t0)) s)" "[ $((t1 - t0)) -le 10 ]"
check "... saying which rank died" "grep -q 'rank 1 .*died\|connection to rank 1 lost' $work/r0.err"
cat "$work/r0.err" | tail -1

start_ranks $((port + 1))
kill -STOP "$pid1"
t0=$(date +%s)
wait "$pid0"; rc=$?
t1=$(date +%s)
kill -9 "$pid1" 2>/dev/null; kill -CONT "$pid1" 2>/dev/null; wait "$pid1" 2>/dev/null
check "rank 0 fails when rank 1 hangs" "[ $rc -ne 0 ]"
check "... after the 8 s timeout, not much later ($((t1 - t0)) s)" "[ $((t1 - t0)) -ge 7 ] && [ $((t1 - t0)) -le 14 ]"
check "... saying it timed out" "grep -q 'timed out' $work/r0.err"
tail -1 "$work/r0.err"

# --- issue 20 item 2 (mpirun_sigstop_rank): under mpirun a hung rank ends the whole MPI job ----
# Before, rank 0 reported the timeout and then waited in MPI_Finalize for ever.
for backend in tcp shm mpi; do
  mpirun --allow-run-as-root --oversubscribe -np 2 --bind-to none \
    ringmaster train --strategy allreduce --collectives $backend --collective-timeout 4 --epochs 50 \
    --dataset synthetic --model mlp:784-32-10 --progress lines >"$work/hang-$backend.out" 2>&1 &
  mp=$!
  rank1=""
  for _ in $(seq 100); do
    for p in $(pgrep -f "ringmaster train --strategy allreduce --collectives $backend --collective-timeout 4"); do
      tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && rank1=$p
    done
    [ -n "$rank1" ] && grep -q '^epoch=1 ' "$work/hang-$backend.out" && break
    sleep 0.1
  done
  kill -STOP "$rank1"
  t0=$(date +%s)
  for _ in $(seq 300); do kill -0 $mp 2>/dev/null || break; sleep 0.1; done
  t1=$(date +%s)
  if kill -0 $mp 2>/dev/null; then kill -9 $mp; pkill -9 -f "collectives $backend --collective-timeout 4"; fi
  wait $mp; rc=$?
  check "mpirun over $backend with rank 1 stopped exits within the timeout + 3 s ($((t1 - t0)) s, exit $rc)" \
    "[ $rc -ne 0 ] && [ $((t1 - t0)) -le 7 ]" || tail -3 "$work/hang-$backend.out"
  check "... with the clear message kept" "grep -q 'timed out\|did not complete within' $work/hang-$backend.out"
  check "... and no rank left" "! pgrep -f 'collectives $backend --collective-timeout 4' >/dev/null"
done

# --- the examples under the launcher ----------------------------------------------------------
for example in pytorchjob mpijob tfjob-workers; do
  ringmaster run "examples/fashion-mnist-$example.yaml" --jobs-root "$work/jobs" >"$work/$example.out" 2>&1; rc=$?
  acc=$(accuracy_of "$work/$example.out")
  check "the $example example succeeds" "[ $rc -eq 0 ]"
  check "the $example example reaches 0.88 test accuracy ($acc)" "at_least '$acc' 0.88"
done
check "the jobs' checkpoints live in their job directories" \
  "ls $work/jobs/fashion-mnist-ddp/ckpt/ckpt-*.rmck >/dev/null && ls $work/jobs/fashion-mnist-mpi/ckpt/ckpt-*.rmck >/dev/null"

# A worker killed mid-run: the master's allreduce fails, OnFailure restarts both, the master
# resumes from its checkpoint and the job still succeeds.
ringmaster run examples/fashion-mnist-pytorchjob.yaml --jobs-root "$work/jobs" --restart-backoff-seconds 1 >"$work/restart.out" 2>&1 &
launcher=$!
for _ in $(seq 150); do grep -q 'master-0\] epoch=2 ' "$work/restart.out" 2>/dev/null && break; sleep 0.2; done
worker=$(pgrep -f 'ringmaster train --strategy=allreduce --model=mlp --dataset=fashion-mnist --epochs=4$' | head -1)
check "found the running worker replica" "[ -n '$worker' ]"
kill -9 $worker
wait $launcher; rc=$?
acc=$(accuracy_of "$work/restart.out")
check "the job succeeds after the worker is killed" "[ $rc -eq 0 ] && grep -q 'Succeeded after .* [1-9][0-9]* restarts' $work/restart.out"
check "the master reports the dead rank" "grep -q 'master-0\] .*rank 1 .*died\|master-0\] .*connection to rank 1 lost' $work/restart.out"
check "the master resumed from its checkpoint" "grep -q 'master-0\] .*resumed from ckpt/ckpt-' $work/restart.out"
check "and still reaches 0.88 ($acc)" "at_least '$acc' 0.88"
check "no replica is left behind" "! pgrep -f 'ringmaster train --strategy=allreduce --model=mlp --dataset=fashion-mnist' >/dev/null"
exit $fail
