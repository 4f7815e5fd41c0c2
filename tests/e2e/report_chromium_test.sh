#!/usr/bin/env bash
# report.html as a person opens it: a short sweep writes it, then headless Chromium (no network:
# every host name fails to resolve) loads it. The DOM it builds must hold the charts and a mark
# per trial, and its screenshot must carry far more than a blank page's (same size, same run).
# Skips (77) without Chromium; report_tests checks the HTML's structure everywhere.
# Usage: report_chromium_test.sh RINGMASTER_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then echo "skip: chromium is not installed"; exit 77; fi
make_workdir
export PATH="$(dirname "$bin"):$PATH"
sed -e 's/name: shell-random/name: report/' -e 's/sleep SLEEP/sleep 0/' -e 's/maxTrialCount: 40/maxTrialCount: 6/' \
  -e 's/goal: 0.9/goal: 2/' tests/fixtures/sweep/shell.yaml >"$work/report.yaml"
ringmaster sweep "$work/report.yaml" --dir "$work/exp" >"$work/sweep.out" 2>&1
check "the sweep writes report.html" "[ -s $work/exp/report.html ]"
chrome() {
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --user-data-dir="$work/profile" \
    --host-resolver-rules="MAP * ~NOTFOUND" "$@" 2>>"$work/chromium.err"
}
chrome --dump-dom "file://$work/exp/report.html" >"$work/dom.html"
check "Chromium builds the page (title)" "grep -q '<title>Experiment report</title>' $work/dom.html"
check "... with the objective chart and one parameter chart" \
  "grep -q '<svg id=\"objective-per-trial\"' $work/dom.html && grep -q '<svg id=\"parameter-x\"' $work/dom.html"
check "... a mark per trial in each (12)" "[ \$(grep -o '<circle class=\"trial\"' $work/dom.html | wc -l) -eq 12 ]"
check "... and the best-so-far line" "grep -q '<polyline class=\"best-so-far\"' $work/dom.html"
printf '<!DOCTYPE html><html><head><meta charset="utf-8"><title>blank</title></head><body></body></html>\n' >"$work/blank.html"
chrome --window-size=800,1400 --screenshot="$work/report.png" "file://$work/exp/report.html" >/dev/null
chrome --window-size=800,1400 --screenshot="$work/blank.png" "file://$work/blank.html" >/dev/null
r=$(stat -c %s "$work/report.png" 2>/dev/null || echo 0)
b=$(stat -c %s "$work/blank.png" 2>/dev/null || echo 0)
check "the screenshot shows the report ($r bytes against a blank page's $b)" "[ $b -gt 0 ] && [ $r -gt \$((5 * b)) ]"
[ $fail -eq 0 ] || tail -5 "$work/chromium.err"
exit $fail
