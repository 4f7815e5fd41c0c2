#!/usr/bin/env bash
# Issue 21 item 4: MPIJob mpiImplementation, run for real side by side. One MPI program is built
# with MPICH's mpicc and with OpenMPI's; an MPIJob of 2 workers x 2 slots runs each under
# `ringmaster run` with the job's hostfile in its implementation's format ("localhost:4" for MPICH,
# "localhost slots=4" for OpenMPI), and the launcher's `mpiexec`, given neither -n nor a hostfile,
# starts as many ranks as the slots give: it found the hostfile through the variables the
# operator sets (HYDRA_HOST_FILE; OMPI_MCA_orte_default_hostfile). Intel MPI (not in Debian) and a missing MPICH are clear errors.
# Usage: mpi_implementations_test.sh RINGMASTER_BINARY (run from the source root)
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
if ! command -v mpicc.mpich >/dev/null || ! command -v mpiexec.mpich >/dev/null; then
  echo "skip: MPICH is not installed (apt-get install mpich libmpich-dev)"
  exit 77
fi
src=$(cd "$(dirname "$0")" && pwd)/clients/mpi_hello.c
mpicc.mpich -o "$work/hello-mpich" "$src" || { echo "FAIL: mpicc.mpich"; exit 1; }
mpicc.openmpi -o "$work/hello-openmpi" "$src" || { echo "FAIL: mpicc.openmpi"; exit 1; }
job() {  # job NAME IMPLEMENTATION PROGRAM
  cat <<YAML
apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata: {name: $1}
spec:
  slotsPerWorker: 2
  mpiImplementation: $2
  mpiReplicaSpecs:
    Launcher:
      template: {spec: {containers: [{name: l, image: i, command: [mpiexec, $3]}]}}
    Worker:
      replicas: 2
      template: {spec: {containers: [{name: w, image: i}]}}
YAML
}
for impl in MPICH OpenMPI; do
  name=hello-$(echo "$impl" | tr A-Z a-z)
  job "$name" "$impl" "$work/$name" >"$work/$name.yaml"
  timeout 120 "$bin" run "$work/$name.yaml" --jobs-root "$work/jobs" >"$work/$name.out" 2>&1; rc=$?
  check "$impl: the MPIJob succeeds (exit $rc)" "[ $rc -eq 0 ] && grep -q 'job $name Succeeded' $work/$name.out" ||
    tail -15 "$work/$name.out"
  check "... 4 ranks (2 workers x 2 slots), each in a world of 4 whose ranks sum to 6" \
    "[ \$(grep -c 'mpi rank=[0-3] size=4 sum=6' $work/$name.out) -eq 4 ]" || grep 'mpi rank' "$work/$name.out"
done
check "MPICH: the program ran on MPICH" "grep -q 'lib=MPICH' $work/hello-mpich.out"
check "... from a hostfile in MPICH's format" "[ \"\$(cat $work/jobs/hello-mpich/hostfile)\" = localhost:4 ]"
check "OpenMPI: the program ran on OpenMPI" "grep -q 'lib=Open M' $work/hello-openmpi.out"
check "... from a hostfile in OpenMPI's format" "[ \"\$(cat $work/jobs/hello-openmpi/hostfile)\" = 'localhost slots=4' ]"

# Where the implementation's launcher is not there: a clear error, nothing started.
job no-mpich MPICH "$work/hello-mpich" >"$work/no-mpich.yaml"
mkdir -p "$work/empty-path"
env PATH="$work/empty-path" "$bin" run "$work/no-mpich.yaml" --jobs-root "$work/jobs" >"$work/no-mpich.out" 2>&1; rc=$?
check "MPICH missing: exit non-zero, naming MPICH's launcher and the package" \
  "[ $rc -ne 0 ] && grep -q 'mpiImplementation MPICH: MPICH.s launcher (mpiexec.mpich, mpirun.mpich or mpiexec.hydra) is not on PATH' $work/no-mpich.out" ||
  cat "$work/no-mpich.out"
job intel Intel "$work/hello-mpich" >"$work/intel.yaml"
env -u I_MPI_ROOT "$bin" run "$work/intel.yaml" --jobs-root "$work/jobs" >"$work/intel.out" 2>&1; rc=$?
check "Intel MPI missing: exit non-zero, naming I_MPI_ROOT" \
  "[ $rc -ne 0 ] && grep -q 'mpiImplementation Intel: Intel MPI.s launcher (mpiexec.hydra) was not found: I_MPI_ROOT is not set' $work/intel.out" ||
  cat "$work/intel.out"
exit $fail
