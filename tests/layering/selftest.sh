#!/usr/bin/env bash
# The layering checker finds arrows against the graph: a synthetic tree with three of them.
set -u
checker="$(dirname "$0")/check_layering.py"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{common,ps,worker,sweep,jobs}
printf '#include "collectives/socket.h"\n' >"$work/common/metrics.cc"
printf '#include "worker/optimizer.h"\n#include "worker/model.h"\n' >"$work/ps/server.cc"
printf 'target_link_libraries(rm_ps PUBLIC rm_common rm_worker)\n' >"$work/ps/CMakeLists.txt"
printf 'target_link_libraries(rm_sweep PUBLIC rm_common rm_jobs rm_launcher)\n' >"$work/sweep/CMakeLists.txt"
printf '#include <yaml-cpp/yaml.h>\n' >"$work/jobs/model.h"
printf '#include "jobs/model.h"\n' >"$work/sweep/space.h"
out=$(/usr/bin/python3 "$checker" "$work"); rc=$?
echo "$out"
fail=0
[ $rc -eq 1 ] || { echo "FAIL: expected exit 1, got $rc"; fail=1; }
grep -q '^common/metrics.cc: includes collectives/socket.h' <<<"$out" || { echo "FAIL: common -> collectives not found"; fail=1; }
grep -q '^ps/server.cc: includes worker/model.h: ps/ may use only' <<<"$out" || { echo "FAIL: the narrowed ps -> worker arrow not enforced"; fail=1; }
grep -q '^ps/CMakeLists.txt: links rm_worker' <<<"$out" || { echo "FAIL: a link line against the graph not found"; fail=1; }
grep -q '^sweep/space.h: reaches yaml-cpp (sweep/space.h -> jobs/model.h -> <yaml-cpp>)' <<<"$out" || { echo "FAIL: yaml-cpp through jobs/model.h not found"; fail=1; }
[ "$(grep -c ': includes \|: links \|: reaches ' <<<"$out")" -eq 4 ] || { echo "FAIL: expected exactly 4 violations"; fail=1; }
exit $fail
