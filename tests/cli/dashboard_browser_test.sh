#!/usr/bin/env bash
# The dashboard's pages in headless Chromium (issue 26; tests/browser/dashboard_test.cjs says what
# is checked) against a job `ringmaster run` is running. Skips (77), saying why, where Chromium,
# playwright-core or the pages (uPlot) are not installed: scripts/install-deps installs them.
# Usage: dashboard_browser_test.sh RINGMASTER_BINARY [SCREENSHOT_DIR]
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
for need in /usr/bin/chromium web/node_modules/playwright-core/package.json "$(dirname "$bin")/web/uPlot.iife.min.js" \
            "$(dirname "$bin")/web/echarts.min.js"; do
  [ -e "$need" ] || { echo "SKIP: $need is not installed (scripts/install-deps installs it)"; exit 77; }
done
command -v node >/dev/null || { echo "SKIP: no node to drive the browser"; exit 77; }
make_workdir
export PATH="$(dirname "$bin"):$PATH"
"$bin" run tests/fixtures/run/dashboard-train-job.yaml --jobs-root "$work/jobs" --restart-backoff-seconds 0 \
  >"$work/run.out" 2>&1 &
run=$!
# An experiment directory as `ringmaster sweep` leaves it (the Experiment and its journal), with
# one trial that medianstop stopped.
mkdir -p "$work/experiments/random-search"
cp examples/random-search-experiment.yaml "$work/experiments/random-search/experiment.yaml"
cat >"$work/experiments/random-search/journal.jsonl" <<'JSONL'
{"event":"experiment_created","name":"random-search"}
{"event":"trial_created","trial":"random-search-a","index":0,"assignment":[["lr","0.01"],["momentum","0.5"],["hidden","64"]]}
{"event":"trial_created","trial":"random-search-b","index":1,"assignment":[["lr","0.05"],["momentum","0.9"],["hidden","128"]]}
{"event":"trial_created","trial":"random-search-c","index":2,"assignment":[["lr","0.2"],["momentum","0.7"],["hidden","32"]]}
{"event":"trial_finished","trial":"random-search-a","status":"Succeeded","objective":0.86,"metrics":{"accuracy":0.86},"series":[0.71,0.8,0.86]}
{"event":"trial_finished","trial":"random-search-b","status":"Succeeded","objective":0.88,"metrics":{"accuracy":0.88},"series":[0.75,0.84,0.88]}
{"event":"trial_finished","trial":"random-search-c","status":"EarlyStopped","objective":0.41,"metrics":{"accuracy":0.41},"series":[0.35,0.41]}
{"event":"experiment_finished","condition":"Succeeded","reason":"ExperimentMaxTrialsReached"}
JSONL
# ... and one a driver is running, its trials sleeping, for the page's Stop.
sed -e 's/name: shell-random/name: shell-slow/' -e 's/sleep SLEEP/sleep 120/' tests/fixtures/sweep/shell.yaml >"$work/slow.yaml"
"$bin" sweep "$work/slow.yaml" --dir "$work/experiments/shell-slow" >"$work/sweep.out" 2>&1 &
sweep=$!
"$bin" dashboard --port 0 --jobs-root "$work/jobs" --experiments-root "$work/experiments" >"$work/dash.out" 2>&1 &
dash=$!
for _ in $(seq 100); do grep -q '^dashboard of ' "$work/dash.out" && break; sleep 0.05; done
url=$(sed -n 's/^dashboard of .* at \(.*\)$/\1/p' "$work/dash.out")
SCREENSHOTS=${2:-} node tests/browser/dashboard_test.cjs "$url" dashboard-demo | tee "$work/browser.out"
rc=${PIPESTATUS[0]}
kill -TERM "$run" "$dash" 2>/dev/null
kill -9 "$sweep" 2>/dev/null  # stopped by the page already, unless the test failed first
wait "$run" "$dash" "$sweep" 2>/dev/null
check "the dashboard's pages in Chromium (each step above)" "[ $rc -eq 0 ]" || tail -5 "$work/run.out" "$work/sweep.out"
check "... the page's Stop stopped the sweep's driver and its trials" \
  "grep -q 'stopped before it ended' $work/sweep.out && ! pgrep -af 'sleep 120; echo accuracy'"
check "... its Delete stopped the job's launcher and removed the job" "[ ! -e $work/jobs/dashboard-demo ] && ! kill -0 $run 2>/dev/null"
exit $fail
