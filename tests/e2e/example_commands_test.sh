#!/usr/bin/env bash
# Runs every `ringmaster train` command written in examples/*.yaml (replica commands, the MPIJob
# launcher's command after mpirun, the Katib trial template with feasible values), shortened by
# appended flags (a repeated flag takes its last value), as one process. Proves the YAML's flags are
# the flags the trainer accepts. Usage: example_commands_test.sh RINGMASTER_BINARY
set -u
bin=$1
source "$(dirname "$0")/../lib.sh"
make_workdir
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "skip: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"
  exit 77
fi
commands=$(/usr/bin/python3 tests/e2e/train_commands.py examples/*.yaml) || exit 1
check "found the train commands of all examples" "[ \$(wc -l <<<\"\$commands\") -ge 6 ]"
n=0
while IFS= read -r line; do
  n=$((n + 1))
  file=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["file"])' "$line")
  mapfile -t argv < <(/usr/bin/python3 -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])["argv"]))' "$line")
  extra=()
  # A pbt trial's length is --extra-epochs; 0 hands it to --steps.
  if [[ " ${argv[*]} " == *" --extra-epochs="* ]]; then argv+=(--extra-epochs=0); fi
  if [[ " ${argv[*]} " == *" --strategy=ps "* ]]; then  # against a real parameter server
    port=$((20000 + RANDOM % 20000))
    RINGMASTER_JOB_TOKEN=examples "$bin" ps --address 127.0.0.1 --port $port >"$work/ps$n.log" 2>&1 &
    server=$!
    extra=(--ps-hosts 127.0.0.1:$port --worker-index 0 --num-workers 1)
  fi
  out=$(RINGMASTER_JOB_TOKEN=examples WORLD_SIZE=1 "$bin" "${argv[@]}" --steps 3 --train-limit 512 --test-limit 128 --checkpoint-dir "$work/ck$n" \
        "${extra[@]}" 2>"$work/err"); rc=$?
  if [[ " ${argv[*]} " == *" --device=cuda "* ]] && grep -qE "built without CUDA|no usable GPU|no CUDA device" "$work/err"; then
    # No GPU here: the flags were accepted (a flag error exits 2 before CUDA is asked) and the
    # refusal is the clear one, not a CPU run.
    check "$file: ${argv[*]}: flags accepted; no GPU here, refused clearly" "[ $rc -eq 1 ] && [ -z \"\$out\" ]" || cat "$work/err"
    continue
  fi
  check "$file: ${argv[*]}: trains" "[ $rc -eq 0 ] && grep -q '^epoch=1 step=3 ' <<<\"\$out\"" || cat "$work/err"
  if [ ${#extra[@]} -gt 0 ]; then kill $server; wait $server; fi
done <<<"$commands"
exit $fail
