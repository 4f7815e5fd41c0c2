#!/usr/bin/env bash
# `ringmaster dashboard` as a user starts it (issue 26): it hands over to ringmaster-dashboard,
# prints a URL with its token, serves the jobs a real `ringmaster run` wrote, and stops at SIGTERM.
# Usage: dashboard_cli_test.sh RINGMASTER_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
"$bin" run tests/fixtures/run/hello-job.yaml --jobs-root "$work/jobs" >"$work/run.out" 2>&1 || true
"$bin" dashboard --port 0 --jobs-root "$work/jobs" >"$work/dash.out" 2>&1 &
dash=$!
for _ in $(seq 100); do grep -q '^dashboard of ' "$work/dash.out" && break; sleep 0.05; done
url=$(sed -n 's/^dashboard of .* at \(.*\)$/\1/p' "$work/dash.out")
check "it prints its URL with a token" "grep -Eq '^http://127\.0\.0\.1:[0-9]+/\?token=[0-9a-f]{24}$' <<<'$url'" || cat "$work/dash.out"
jobs=$(/usr/bin/python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
       "${url%%/\?*}/api/jobs" 2>&1)
check "GET /api/jobs lists the job ringmaster run wrote" \
  "/usr/bin/python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j and j[0][\"phase\"] in (\"Succeeded\",\"Failed\"), j' '$jobs'" ||
  echo "$jobs"
kill -TERM "$dash"; wait "$dash"; rc=$?
check "it stops at SIGTERM with exit 0" "[ $rc -eq 0 ]"
out=$("$bin" dashboard --port abc 2>&1); rc=$?
check "a bad flag exits 2 naming it" "[ $rc -eq 2 ] && grep -q -- '--port' <<<\"\$out\""
exit $fail
