#!/usr/bin/env bash
# The dashboard's pages in headless Chromium (issue 26; tests/browser/dashboard_test.cjs says what
# is checked) against a job `ringmaster run` is running. Skips (77), saying why, where Chromium,
# playwright-core or the pages (uPlot) are not installed: scripts/install-deps installs them.
# Usage: dashboard_browser_test.sh RINGMASTER_BINARY [SCREENSHOT_DIR]
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
for need in /usr/bin/chromium web/node_modules/playwright-core/package.json "$(dirname "$bin")/web/uPlot.iife.min.js"; do
  [ -e "$need" ] || { echo "SKIP: $need is not installed (scripts/install-deps installs it)"; exit 77; }
done
command -v node >/dev/null || { echo "SKIP: no node to drive the browser"; exit 77; }
make_workdir
export PATH="$(dirname "$bin"):$PATH"
"$bin" run tests/fixtures/run/dashboard-train-job.yaml --jobs-root "$work/jobs" --restart-backoff-seconds 0 \
  >"$work/run.out" 2>&1 &
run=$!
"$bin" dashboard --port 0 --jobs-root "$work/jobs" >"$work/dash.out" 2>&1 &
dash=$!
for _ in $(seq 100); do grep -q '^dashboard of ' "$work/dash.out" && break; sleep 0.05; done
url=$(sed -n 's/^dashboard of .* at \(.*\)$/\1/p' "$work/dash.out")
SCREENSHOTS=${2:-} node tests/browser/dashboard_test.cjs "$url" dashboard-demo | tee "$work/browser.out"
rc=${PIPESTATUS[0]}
kill -TERM "$run" "$dash" 2>/dev/null
wait "$run" "$dash" 2>/dev/null
check "the dashboard's pages in Chromium (each step above)" "[ $rc -eq 0 ]" || tail -5 "$work/run.out"
exit $fail
