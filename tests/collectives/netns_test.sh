#!/usr/bin/env bash
# Multi-host collectives on one machine: 3 ranks in 3 network namespaces, each joined by a veth
# pair to a bridge in a fourth ("switch") namespace, on a private subnet the test owns; rank 2's
# link is rate-limited with tc tbf (this kernel has no netem). The ranks find each other through
# MASTER_ADDR in another namespace, pick TCP because their network namespaces differ, and run
# every collective against the serial reference; then a rank is killed mid-allreduce.
# Creates and removes everything itself. Exit 77 (skipped) without CAP_NET_ADMIN.
# Usage: netns_test.sh COLLECTIVES_RANK_BINARY
set -u
rank_bin=$1
source "$(dirname "$0")/../lib.sh"
make_workdir
tag=rm$$
sw=${tag}sw
subnet=10.213.$(( $$ % 200 + 20 ))
cleanup() {
  for i in 0 1 2; do ip netns del ${tag}n$i 2>/dev/null; done
  ip netns del $sw 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
if ! ip netns add $sw 2>/dev/null; then
  echo "skip: cannot create network namespaces here (needs root / CAP_NET_ADMIN)"
  exit 77
fi
ip -n $sw link add br0 type bridge && ip -n $sw link set br0 up && ip -n $sw link set lo up || exit 1
for i in 0 1 2; do
  ns=${tag}n$i
  ip netns add $ns || exit 1
  ip link add ${tag}v$i type veth peer name ${tag}p$i || exit 1
  ip link set ${tag}v$i netns $ns && ip link set ${tag}p$i netns $sw || exit 1
  ip -n $ns link set lo up && ip -n $ns link set ${tag}v$i name eth0 && ip -n $ns addr add $subnet.$((i + 1))/24 dev eth0 &&
    ip -n $ns link set eth0 up || exit 1
  ip -n $sw link set ${tag}p$i master br0 && ip -n $sw link set ${tag}p$i up || exit 1
done
# Rank 2 sits behind a 200 Mbit/s token bucket.
ip netns exec ${tag}n2 tc qdisc add dev eth0 root tbf rate 200mbit burst 64kb latency 100ms || exit 1
check "rank 2's link is up" "ip -n ${tag}n2 link show eth0 | grep -q 'state UP'"

runs=0
run_world() {  # run_world SCENARIO... ; exit codes in $work/rc.N, stderr in $work/err.N
  runs=$((runs + 1))
  local port=$(( 29000 + $$ % 1000 + runs ))
  local pids=()
  for i in 0 1 2; do
    ip netns exec ${tag}n$i env RANK=$i WORLD_SIZE=3 MASTER_ADDR=$subnet.1 MASTER_PORT=$port \
      RINGMASTER_JOB_TOKEN=netns-$$ RINGMASTER_JOB_NAME=netns RINGMASTER_TIMEOUT_SECONDS=30 \
      timeout 120 "$rank_bin" "$@" 2>"$work/err.$i" &
    pids+=($!)
  done
  for i in 0 1 2; do wait ${pids[$i]} 2>/dev/null; echo $? >"$work/rc.$i"; done
}

before=$(ip netns exec ${tag}n2 tc -s qdisc show dev eth0 | sed -n 's/.*Sent \([0-9]*\) bytes.*/\1/p' | head -1)
run_world verify
for i in 0 1 2; do check "rank $i verified every collective across namespaces" "[ \$(cat $work/rc.$i) -eq 0 ] || { cat $work/err.$i; false; }"; done
after=$(ip netns exec ${tag}n2 tc -s qdisc show dev eth0 | sed -n 's/.*Sent \([0-9]*\) bytes.*/\1/p' | head -1)
check "rank 2's traffic went through the rate-limited link (> 1 MB)" "[ \$(( after - before )) -gt 1000000 ]"

run_world die 1
check "the killed rank died of SIGKILL" "[ \$(cat $work/rc.1) -eq 137 ] || { echo rc=\$(cat $work/rc.1); cat $work/err.1; false; }"
for i in 0 2; do
  check "rank $i failed cleanly after its peer was killed" "[ \$(cat $work/rc.$i) -eq 1 ] && grep -q 'rank failed:' $work/err.$i"
done
exit $fail
