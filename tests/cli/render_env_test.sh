#!/usr/bin/env bash
# The env `ringmaster render` gives replicas is the env they need: the rendered Pods of the TFJob
# and PyTorchJob examples run here as processes with exactly that env (cluster names mapped to
# 127.0.0.1 and free ports by run_rendered.py), shortened to one small epoch, and train together.
# Usage: render_env_test.sh RINGMASTER_BINARY (run from the source root). Skips without Fashion-MNIST.
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then echo "skip: no Fashion-MNIST"; exit 77; fi
make_workdir
for f in examples/fashion-mnist-tfjob-workers.yaml examples/fashion-mnist-pytorchjob.yaml; do
  name=$(basename "$f" .yaml)
  mkdir -p "$work/$name"
  "$bin" render "$f" >"$work/$name/rendered.yaml"
  /usr/bin/python3 tests/cli/run_rendered.py "$work/$name/rendered.yaml" "$bin" --epochs=1 --train-limit=2048 \
    --test-limit=512 --checkpoint-dir=ckpt >"$work/$name/out" 2>&1; rc=$?
  pods=$(grep -c '^kind: Pod' "$work/$name/rendered.yaml")
  check "$name: its $pods rendered pods train together with the rendered env" \
    "[ $rc -eq 0 ] && [ \$(grep -c ': exit 0: ' $work/$name/out) -eq $pods ] && grep -q '^epoch=1 .* accuracy=' $work/$name/*-0/output.log" ||
    tail -20 "$work/$name/out"
done
exit $fail
