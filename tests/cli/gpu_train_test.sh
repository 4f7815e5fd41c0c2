#!/usr/bin/env bash
# `ringmaster train --device cuda` end to end on Fashion-MNIST (ctest -L gpu). Where this build has
# no CUDA or the machine no GPU, it checks that --device cuda fails with a clear error (never a
# silent CPU run) and skips (77). On a GPU: the MLP and the CNN reach their accuracy, bf16 too, a
# checkpointed run resumes, four processes share the GPU through shared memory, and
# compute-sanitizer's memcheck finds no error in a short run (when compute-sanitizer exists).
set -u
bin=$1
. "$(dirname "$0")/../lib.sh"
make_workdir
data=/usr/share/datasets/fashion-mnist

"$bin" train --device cuda --dataset synthetic --synthetic-samples 256 --epochs 1 >"$work/probe" 2>&1; rc=$?
if grep -qE "built without CUDA|no usable GPU|no CUDA device" "$work/probe"; then
  check "--device cuda without a GPU exits non-zero, naming --device cuda" \
    "[ $rc -ne 0 ] && grep -q -- '--device cuda' '$work/probe' && ! grep -q '^summary:' '$work/probe'" || cat "$work/probe"
  [ $fail -ne 0 ] && exit 1
  echo "skip: $(grep -- '--device cuda' "$work/probe" | head -1)"
  exit 77
fi
check "a synthetic run on the GPU succeeds" "[ $rc -eq 0 ] && grep -q '^summary:' '$work/probe'" || cat "$work/probe"
[ -d "$data" ] || { echo "skip: no Fashion-MNIST at $data"; exit 77; }

acc() { sed -n 's/^summary:.* accuracy=\([0-9.]*\).*/\1/p' "$1"; }
"$bin" train --device cuda --model mlp --epochs 2 >"$work/mlp" 2>&1
check "mlp, 2 epochs on the GPU: test accuracy >= 0.84" "awk 'BEGIN{exit !($(acc "$work/mlp") >= 0.84)}'" || cat "$work/mlp"
check "the GPU run names its device and precision" "grep -q 'training on .*fp32, CUDA graphs' '$work/mlp'" || cat "$work/mlp"
"$bin" train --device cuda --model cnn --epochs 1 >"$work/cnn" 2>&1
check "cnn, 1 epoch on the GPU: test accuracy >= 0.83" "awk 'BEGIN{exit !($(acc "$work/cnn") >= 0.83)}'" || cat "$work/cnn"
"$bin" train --device cuda --model mlp --epochs 1 --precision bf16 --optimizer adam >"$work/bf16" 2>&1
check "mlp with bf16 GEMMs and Adam: test accuracy >= 0.82" "awk 'BEGIN{exit !($(acc "$work/bf16") >= 0.82)}'" || cat "$work/bf16"
"$bin" train --device cuda --model mlp --epochs 1 --dropout 0.2 --no-cuda-graphs >"$work/eager" 2>&1
check "eager launches with dropout: test accuracy >= 0.8" "awk 'BEGIN{exit !($(acc "$work/eager") >= 0.8)}'" || cat "$work/eager"

# A run stopped at step 300 and resumed ends where an uninterrupted one does.
common=(--device cuda --model cnn:16-32-64 --steps 600 --train-limit 20000 --test-limit 2000 --lr-schedule cosine)
"$bin" train "${common[@]}" >"$work/whole" 2>&1
"$bin" train "${common[@]}" --checkpoint-dir "$work/ck" --stop-at-step 300 >"$work/first" 2>&1
"$bin" train "${common[@]}" --checkpoint-dir "$work/ck" --resume >"$work/second" 2>&1
check "a resumed GPU run says where it resumed" "grep -q 'resumed from' '$work/second'" || cat "$work/second"
check "the resumed run's accuracy equals the uninterrupted run's (3 decimals)" \
  "[ \"\$(acc '$work/whole' | cut -c1-5)\" = \"\$(acc '$work/second' | cut -c1-5)\" ]" || { cat "$work/whole" "$work/second"; }

# Four ranks on one GPU, a quarter each, gradients through shared memory.
"$bin" run examples/gpu-share-pytorchjob.yaml --jobs-root "$work/jobs" >"$work/share" 2>&1; rc=$?
check "four processes sharing the GPU train the CNN to the end" "[ $rc -eq 0 ]" || { cat "$work/share"; "$bin" logs gpu-share-cnn --jobs-root "$work/jobs" | tail -40; }
"$bin" logs gpu-share-cnn gpu-share-cnn-master-0 --jobs-root "$work/jobs" >"$work/share-master" 2>&1
check "the shared-GPU run reports 4 ranks and its accuracy >= 0.80" \
  "grep -q 'ranks=4' '$work/share-master' && awk 'BEGIN{exit !($(acc "$work/share-master") >= 0.80)}'" || tail -20 "$work/share-master"
check "the shared-GPU ranks sum gradients through host memory" "grep -q 'gradients through pinned host memory' '$work/share-master'"

if command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 9 "$bin" train --device cuda --model cnn:8-16-32 --steps 6 \
    --train-limit 512 --test-limit 256 --batch-size 64 >"$work/memcheck" 2>&1; rc=$?
  check "compute-sanitizer memcheck: no errors in a short CNN run" \
    "[ $rc -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' '$work/memcheck'" || tail -40 "$work/memcheck"
else
  echo "note: compute-sanitizer not found; memcheck not run"
fi
exit $fail
