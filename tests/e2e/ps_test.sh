#!/usr/bin/env bash
# Parameter-server training as a user runs it: the TFJob example (2 PS, chief, 2 workers, each
# finding its role in TF_CONFIG) through `ringmaster run` reaches 0.87; a PS killed with -9
# mid-run is restarted by OnFailure, restores its snapshot, the workers wait for it and the job
# still succeeds; bad invocations get clear errors.
# Usage: ps_test.sh RINGMASTER_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
export PATH="$(dirname "$bin"):$PATH"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "skip: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"
  exit 77
fi
accuracy_of() { sed -n 's/.*summary: .* accuracy=\([0-9.]*\) .*/\1/p' "$1" | tail -1; }
at_least() { /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) >= float(sys.argv[2]) else 1)' "$1" "$2"; }

# --- bad invocations ---------------------------------------------------------------------------
ringmaster train --strategy ps --epochs 1 >"$work/noconf.out" 2>&1; rc=$?
check "--strategy ps without --ps-hosts or TF_CONFIG is refused (exit 2)" \
  "[ $rc -eq 2 ] && grep -q 'expected --ps-hosts or TF_CONFIG' $work/noconf.out"
TF_CONFIG='{"cluster":{"worker":["127.0.0.1:1"]},"task":{"type":"worker","index":0}}' \
  ringmaster train --strategy ps --epochs 1 >"$work/nops.out" 2>&1; rc=$?
check "a TF_CONFIG without ps is refused, naming cluster.ps" "[ $rc -eq 2 ] && grep -q 'cluster.ps' $work/nops.out"
TF_CONFIG='{"cluster":{"ps":["127.0.0.1:1"]},"task":{"type":"worker","index":0}}' \
  ringmaster ps >"$work/notps.out" 2>&1; rc=$?
check "ringmaster ps in a worker's TF_CONFIG is refused" "[ $rc -eq 2 ] && grep -q 'expected task.type \"ps\"' $work/notps.out"
# Issue 20 item 5 (ps_closed_by_default): a standalone server binds loopback and wants a token.
env -u RINGMASTER_JOB_TOKEN ringmaster ps --port 0 >"$work/notoken.out" 2>&1; rc=$?
check "ringmaster ps without a token is refused (exit 2) unless --insecure" \
  "[ $rc -eq 2 ] && grep -q 'RINGMASTER_JOB_TOKEN: expected the job.s token' $work/notoken.out && grep -q -- '--insecure' $work/notoken.out"
RINGMASTER_JOB_TOKEN=sesame ringmaster ps --port 0 >"$work/standalone.out" 2>&1 &
ps_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/standalone.out" && break; sleep 0.05; done
ps_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/standalone.out")
check "... with one, it listens on 127.0.0.1 only" "[ -n '$ps_port' ] && ss -ltn | grep -q '127.0.0.1\]*:$ps_port ' && ! ss -ltn | grep -qE '(0.0.0.0|\*|\[::\]):$ps_port '"
env -u RINGMASTER_JOB_TOKEN ringmaster train --strategy ps --ps-hosts "127.0.0.1:$ps_port" --dataset synthetic --epochs 1 \
  --model mlp:784-16-10 --ps-timeout 5 >"$work/tokenless.out" 2>&1; rc=$?
check "... and a client without the token is refused" "[ $rc -ne 0 ] && grep -qi 'no job token' $work/tokenless.out" || tail -3 "$work/tokenless.out"
kill $ps_pid; wait $ps_pid 2>/dev/null
env -u RINGMASTER_JOB_TOKEN ringmaster ps --port 0 --insecure >"$work/insecure.out" 2>&1 &
ps_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/insecure.out" && break; sleep 0.05; done
kill $ps_pid; wait $ps_pid 2>/dev/null
check "... --insecure serves without one, warning loudly" "grep -q 'WARNING: --insecure: serving on 127.0.0.1 WITHOUT A JOB TOKEN' $work/insecure.out && grep -q 'listening on 127.0.0.1:' $work/insecure.out"
ringmaster train --strategy ps --ps-hosts 127.0.0.1:1 --ps-mode gossip >"$work/mode.out" 2>&1; rc=$?
check "an unknown --ps-mode is refused" "[ $rc -eq 2 ] && grep -q 'expected async, sync or ssp' $work/mode.out"

# --- the TFJob example ---------------------------------------------------------------------------
ringmaster run examples/fashion-mnist-tfjob-ps.yaml --jobs-root "$work/jobs" >"$work/tfjob.out" 2>&1; rc=$?
acc=$(accuracy_of "$work/tfjob.out")
check "the TFJob PS example succeeds" "[ $rc -eq 0 ] && grep -q 'Succeeded after' $work/tfjob.out"
check "... reaching 0.87 test accuracy ($acc)" "at_least '$acc' 0.87"
check "... with both servers' snapshots in the job directory" \
  "[ -s $work/jobs/fashion-mnist-ps/ps-ckpt/ps-0.snapshot ] && [ -s $work/jobs/fashion-mnist-ps/ps-ckpt/ps-1.snapshot ]"
check "... and the chief's checkpoint" "ls $work/jobs/fashion-mnist-ps/ckpt/ckpt-*.rmck >/dev/null"
grep -E 'summary:|step time' "$work/tfjob.out"

# --- kill -9 of a parameter server mid-run ----------------------------------------------------------
rm -rf "$work/jobs"
ringmaster run examples/fashion-mnist-tfjob-ps.yaml --jobs-root "$work/jobs" --restart-backoff-seconds 1 >"$work/kill.out" 2>&1 &
launcher=$!
for _ in $(seq 200); do grep -q 'chief-0\] epoch=2 ' "$work/kill.out" 2>/dev/null && break; sleep 0.1; done
victim=""
for pid in $(pgrep -f 'ringmaster-ps ps'); do
  tr '\0' '\n' </proc/$pid/environ 2>/dev/null | grep -q '"task":{"index":0,"type":"ps"}\|"task":{"type":"ps","index":0}' && victim=$pid
done
check "found parameter server 0 running" "[ -n '$victim' ]"
[ -n "$victim" ] && kill -9 "$victim"
wait $launcher; rc=$?
acc=$(accuracy_of "$work/kill.out")
check "after kill -9 of PS 0 the job still succeeds" "[ $rc -eq 0 ]"
check "... because OnFailure restarted it" "grep -q 'Succeeded after .*[1-9][0-9]* restart' $work/kill.out"
check "... from its snapshot" "grep -q 'ps-0\].*restored .*ps-0.snapshot' $work/kill.out"
check "... and the workers waited for it" "grep -q 'waiting for it' $work/kill.out"
check "... and the model is still good ($acc)" "at_least '$acc' 0.85"
grep -E 'restored|Succeeded after' "$work/kill.out"
exit $fail
