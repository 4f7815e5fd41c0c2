#!/usr/bin/env bash
# CUDA only when used (issue 23 item 1): in a CUDA-enabled build, ringmaster maps no CUDA library
# until --device cuda or the nccl backend asks for the CUDA module (libringmaster-cuda.so), and a
# missing or broken module is a clear error. Runs on machines without a GPU (the module loads,
# then CUDA reports that no device is usable). Skips (77) in a build without CUDA.
set -u
bin=${1:?usage: cuda_module_test.sh RINGMASTER}
source "$(dirname "$0")/../lib.sh"
make_workdir
module="$(dirname "$bin")/libringmaster-cuda.so"
if [ ! -f "$module" ]; then
  echo "skip: this build has no CUDA module ($module)"
  exit 77
fi

# glibc's loader names every library it maps under LD_DEBUG=files.
loads_cuda() { grep -qE 'file=(libcudart|libcublas|libnccl|libringmaster-cuda)' "$1"; }

check "the binary itself needs no CUDA library" "! ldd '$bin' | grep -qE 'libcudart|libcublas|libnccl'"
LD_DEBUG=files "$bin" --version >"$work/version" 2>&1
check "--version maps no CUDA library" "! loads_cuda '$work/version'" || grep 'file=' "$work/version" | head
LD_DEBUG=files "$bin" validate examples/fashion-mnist-pytorchjob.yaml >"$work/validate" 2>&1; rc=$?
check "validate maps no CUDA library" "[ $rc -eq 0 ] && ! loads_cuda '$work/validate'"
LD_DEBUG=files "$bin" train --dataset synthetic --synthetic-samples 256 --steps 2 >"$work/cpu" 2>&1
check "train on the CPU maps no CUDA library" "grep -q '^summary:' '$work/cpu' && ! loads_cuda '$work/cpu'" || tail -5 "$work/cpu"

LD_DEBUG=files "$bin" train --device cuda --dataset synthetic --synthetic-samples 256 --steps 2 >"$work/gpu" 2>&1
check "--device cuda loads the module and CUDA" "grep -q 'file=.*libringmaster-cuda.so' '$work/gpu' && grep -q 'file=libcudart' '$work/gpu'" ||
  grep -v 'file=' "$work/gpu" | tail -5
"$bin" train --device cuda --dataset synthetic --synthetic-samples 256 --steps 2 >"$work/gpu" 2>&1; rc=$?
if grep -q '^summary:' "$work/gpu"; then
  check "--device cuda trains where a GPU is" "[ $rc -eq 0 ]"
else
  check "--device cuda without a GPU: CUDA's own reason, not 'built without CUDA'" \
    "[ $rc -ne 0 ] && grep -qE 'no usable GPU|no CUDA device' '$work/gpu' && ! grep -q 'built without' '$work/gpu'" ||
    tail -3 "$work/gpu"
fi

RINGMASTER_CUDA_MODULE=$work/nothing-here.so "$bin" train --device cuda --dataset synthetic --synthetic-samples 256 \
  --steps 2 >"$work/missing" 2>&1; rc=$?
check "a missing module: exit non-zero, naming the path and RINGMASTER_CUDA_MODULE" \
  "[ $rc -ne 0 ] && grep -q 'CUDA module' '$work/missing' && grep -q 'nothing-here.so: not there' '$work/missing' && grep -q RINGMASTER_CUDA_MODULE '$work/missing'" ||
  tail -4 "$work/missing"
echo 'not a shared object' >"$work/broken.so"
RINGMASTER_CUDA_MODULE=$work/broken.so "$bin" train --device cuda --dataset synthetic --synthetic-samples 256 \
  --steps 2 >"$work/broken" 2>&1; rc=$?
check "a broken module: exit non-zero with the loader's reason" \
  "[ $rc -ne 0 ] && grep -q 'broken.so) does not load' '$work/broken'" || tail -3 "$work/broken"

# The nccl backend goes through the same module: rank 0 of two (a CPU step) reaches NCCL's setup,
# which, where no GPU is, says CUDA's reason.
RINGMASTER_COLLECTIVES=nccl WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$((20000 + RANDOM % 20000)) \
  LD_DEBUG=files timeout 60 "$bin" train --strategy allreduce --dataset synthetic --synthetic-samples 256 --steps 2 \
  >"$work/nccl" 2>&1
check "the nccl backend loads the module" \
  "grep -q 'file=.*libringmaster-cuda.so' '$work/nccl' && grep -q 'file=libnccl' '$work/nccl'" ||
  grep -v 'file=' "$work/nccl" | tail -5
exit $fail
