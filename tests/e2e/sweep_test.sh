#!/usr/bin/env bash
# `ringmaster sweep` as a user runs it: a grid of real training trials; random search to a goal;
# Katib's end conditions (goal, failed trials, metrics unavailable); SIGKILL of the driver and
# --resume, which keeps finished trials, reruns the running ones and leaves no trial behind;
# `sweep stop` (the dashboard's Stop), which stops the trials, and --resume after it;
# `sweep status`; sobol's sequence; Trainer's OptimizationJob (TrainJob trials, the progress API); two objectives (the Pareto front, nsga2 and MOTPE); pbt on Fashion-MNIST (lineage, checkpoints, SIGKILL and --resume); an unsupported algorithm refused with the list; medianstop stopping trials live;
# the File collector (JSON and TEXT); a v1alpha3 goTemplate experiment under tpe; hyperband's
# brackets; report.html.
# Usage: sweep_test.sh RINGMASTER_BINARY
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
source "$(dirname "$0")/../lib.sh"
make_workdir
export PATH="$(dirname "$bin"):$PATH"
fixtures=tests/fixtures/sweep
shell_exp() {  # shell_exp NAME SLEEP COMMAND-TAIL > file: the shell fixture, renamed and edited
  sed -e "s/name: shell-random/name: $1/" -e "s/sleep SLEEP/sleep $2/" -e "s|echo accuracy=\${trialParameters.x}|$3|" \
    "$fixtures/shell.yaml"
}

# --- a grid of real trainings ----------------------------------------------------------------
ringmaster sweep "$fixtures/grid.yaml" --dir "$work/grid" >"$work/grid.out" 2>&1; rc=$?
check "the grid sweep succeeds" "[ $rc -eq 0 ]"
check "... running all 6 points" "[ \$(grep -c ' Succeeded: ' $work/grid.out) -eq 6 ]"
check "... ending with ExperimentSuggestionEndReached" "grep -q 'Succeeded (ExperimentSuggestionEndReached)' $work/grid.out"
check "... and naming the best trial" "grep -q '^best: tiny-grid-0' $work/grid.out"
check "each trial's job ran in the experiment directory" "[ -s $work/grid/jobs/tiny-grid-001/status.json ]"
ringmaster sweep status "$work/grid" >"$work/status.out" 2>&1
check "sweep status shows the table" "[ \$(grep -c '^tiny-grid-0' $work/status.out) -eq 6 ] && grep -q '^best:' $work/status.out"

# --- random search until the goal -------------------------------------------------------------
shell_exp goal 0 'echo accuracy=${trialParameters.x}' >"$work/goal.yaml"
ringmaster sweep "$work/goal.yaml" --dir "$work/goal" >"$work/goal.out" 2>&1; rc=$?
best=$(sed -n 's/^best: .* accuracy=\([0-9.e-]*\) .*/\1/p' "$work/goal.out")
check "random search stops at the goal (ExperimentGoalReached)" "[ $rc -eq 0 ] && grep -q '(ExperimentGoalReached)' $work/goal.out"
check "... with a best trial at or above 0.9 ($best)" "/usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.9 else 1)' '${best:-0}'"
check "... before maxTrialCount" "[ \$(grep -c ' started: ' $work/goal.out) -lt 40 ]"

# --- a parameter in a quoted env value stays a string -------------------------------------------------
shell_exp envq 0 'echo accuracy=$X' | sed -e 's/maxTrialCount: 40/maxTrialCount: 2/' -e 's/goal: 0.9/goal: 2/' \
  -e 's|^\(  *\)command: \(.*\)|\1command: \2\n\1env:\n\1  - name: X\n\1    value: "${trialParameters.x}"|' >"$work/envq.yaml"
ringmaster sweep "$work/envq.yaml" --dir "$work/envq" >"$work/envq.out" 2>&1; rc=$?
check "a \"\${trialParameters.x}\" env value reaches the trial as a string (the job loads; 2 trials succeed)" \
  "[ $rc -eq 0 ] && [ \$(grep -c ' Succeeded: ' $work/envq.out) -eq 2 ] && grep -q 'value: \"0\.' $work/envq/trials/envq-001/job.yaml" ||
  cat "$work/envq.out"

# --- failures -----------------------------------------------------------------------------------
shell_exp fails 0 'echo x=${trialParameters.x}; exit 3' >"$work/fails.yaml"
ringmaster sweep "$work/fails.yaml" --dir "$work/fails" >"$work/fails.out" 2>&1; rc=$?
check "more failed trials than maxFailedTrialCount fail the experiment (ExperimentFailed, exit 1)" \
  "[ $rc -eq 1 ] && grep -q 'Failed (ExperimentFailed)' $work/fails.out"
n_failed=$(grep -c ' Failed: ' "$work/fails.out")
check "... after 3 failures (2 allowed; a 4th may finish alongside: $n_failed)" "[ $n_failed -ge 3 ] && [ $n_failed -le 4 ]"
shell_exp silent 0 'echo x=${trialParameters.x}' | sed 's/maxTrialCount: 40/maxTrialCount: 2/' >"$work/silent.yaml"
ringmaster sweep "$work/silent.yaml" --dir "$work/silent" >"$work/silent.out" 2>&1
check "a trial that never reports the objective is MetricsUnavailable" "[ \$(grep -c ' MetricsUnavailable: ' $work/silent.out) -eq 2 ]"

# --- SIGKILL of the driver, then --resume ---------------------------------------------------------
shell_exp resume 1 'echo accuracy=${trialParameters.x}' | sed -e 's/maxTrialCount: 40/maxTrialCount: 6/' -e 's/goal: 0.9/goal: 2/' \
  >"$work/resume.yaml"
ringmaster sweep "$work/resume.yaml" --dir "$work/resume" >"$work/resume1.out" 2>&1 &
driver=$!
for _ in $(seq 100); do
  n=$(grep -c trial_finished "$work/resume/journal.jsonl" 2>/dev/null)
  [ "${n:-0}" -ge 2 ] && break
  sleep 0.1
done
kill -9 $driver
wait $driver 2>/dev/null
# The driver's death reaches each trial through a chain of supervisors (driver -> supervisor ->
# ringmaster run -> supervisor -> replica), each a parent-death signal: give a loaded machine time.
for _ in $(seq 50); do
  pgrep -f "run $work/resume/trials" >/dev/null || pgrep -f 'sleep 1; echo accuracy' >/dev/null || break
  sleep 0.1
done
check "no trial outlives the killed driver" \
  "! pgrep -af 'run $work/resume/trials' && ! pgrep -af 'sleep 1; echo accuracy'"
finished_before=$(grep -c trial_finished "$work/resume/journal.jsonl")
grep trial_finished "$work/resume/journal.jsonl" | sort >"$work/before.txt"
ringmaster sweep --resume "$work/resume" >"$work/resume2.out" 2>&1; rc=$?
check "the resumed experiment ends (ExperimentMaxTrialsReached)" "[ $rc -eq 0 ] && grep -q '(ExperimentMaxTrialsReached)' $work/resume2.out"
check "... with 6 finished trials" "[ \$(grep -c '^shell-random\|^resume-0' $work/resume2.out) -eq 6 ]"
check "... rerunning the ones that were running" "grep -q 'start again' $work/resume2.out"
check "... and not the $finished_before that had finished" \
  "[ \$(grep -c ' started: ' $work/resume2.out) -eq \$((6 - $finished_before)) ]"
grep trial_finished "$work/resume/journal.jsonl" | head -$finished_before | sort >"$work/after.txt"
check "... whose results are kept as they were" "cmp -s $work/before.txt $work/after.txt"

# --- `sweep stop`, then --resume ----------------------------------------------------------------
shell_exp stopme 60 'echo accuracy=${trialParameters.x}' | sed -e 's/maxTrialCount: 40/maxTrialCount: 3/' -e 's/goal: 0.9/goal: 2/' \
  >"$work/stopme.yaml"
ringmaster sweep "$work/stopme.yaml" --dir "$work/stopme" >"$work/stopme1.out" 2>&1 &
driver=$!
for _ in $(seq 200); do [ "$(grep -c trial_created "$work/stopme/journal.jsonl" 2>/dev/null)" = 2 ] && break; sleep 0.05; done
ringmaster sweep --resume "$work/stopme" >"$work/second.out" 2>&1; rc=$?
check "a second driver of a running experiment is refused" "[ $rc -eq 1 ] && grep -q 'another .ringmaster sweep. runs this experiment' $work/second.out"
ringmaster sweep stop "$work/stopme" >"$work/stop.out" 2>&1; rc=$?
wait $driver; driver_rc=$?
check "sweep stop stops the driver (exit 0 both)" "[ $rc -eq 0 ] && [ $driver_rc -eq 0 ] && grep -q 'stopped before it ended' $work/stopme1.out"
check "... and its 2 running trials, which nothing leaves behind" \
  "[ \$(grep -c '^stopme-00[12]  *Stopped ' $work/stopme1.out) -eq 2 ] && ! pgrep -af 'sleep 60; echo accuracy'"
ringmaster sweep status "$work/stopme" >"$work/stopme-status.out" 2>&1
check "... sweep status shows them Stopped" "[ \$(grep -c '^stopme-00[12]  *Stopped ' $work/stopme-status.out) -eq 2 ]"
ringmaster sweep stop "$work/stopme" >"$work/stop2.out" 2>&1; rc=$?
check "stopping a stopped experiment says no driver runs it" "[ $rc -eq 1 ] && grep -q 'no .ringmaster sweep. runs the experiment' $work/stop2.out"
sed -i 's/sleep 60/sleep 0/' "$work/stopme/experiment.yaml"  # quick trials from now on
ringmaster sweep --resume "$work/stopme" >"$work/stopme2.out" 2>&1; rc=$?
check "--resume runs the stopped trials again, then to the end (ExperimentMaxTrialsReached)" \
  "[ $rc -eq 0 ] && grep -q 'resuming: 2 trial' $work/stopme2.out && grep -q '(ExperimentMaxTrialsReached)' $work/stopme2.out && [ \$(grep -c '^stopme-00[123]  *Succeeded ' $work/stopme2.out) -eq 3 ]" || cat "$work/stopme2.out"

# --- medianstop, live --------------------------------------------------------------------------
ringmaster sweep "$fixtures/medianstop.yaml" --dir "$work/median" >"$work/median.out" 2>&1; rc=$?
check "medianstop: the experiment ends (ExperimentSuggestionEndReached)" \
  "[ $rc -eq 0 ] && grep -q '(ExperimentSuggestionEndReached)' $work/median.out"
check "... the trials at 0.1 and 0.2 are EarlyStopped" \
  "grep -q 'shell-medianstop-003 EarlyStopped' $work/median.out && grep -q 'shell-medianstop-005 EarlyStopped' $work/median.out"
check "... the others Succeeded" "[ \$(grep -c ' Succeeded: ' $work/median.out) -eq 3 ]"
stopped_lines=$(grep -c '^\[.*accuracy=' "$work/median/trials/shell-medianstop-003/output.log")
check "... stopped while running: 2 to 6 of its 8 reports ($stopped_lines)" "[ $stopped_lines -ge 2 ] && [ $stopped_lines -le 6 ]"
check "... a best trial that was not stopped" "grep -q '^best: shell-medianstop-004 accuracy=0.95' $work/median.out"

# --- the File collector -------------------------------------------------------------------------
ringmaster sweep "$fixtures/file-json.yaml" --dir "$work/filejson" >"$work/filejson.out" 2>&1; rc=$?
check "File collector, JSON: 3 trials succeed" "[ $rc -eq 0 ] && [ \$(grep -c ' Succeeded: ' $work/filejson.out) -eq 3 ]"
check "... the objective is read from the file (max of 0.25 and x), not stdout (7)" \
  "! grep -q 'accuracy=7\$' $work/filejson.out && grep -q '^best: shell-file-00[123] accuracy=0' $work/filejson.out"
check "... each trial wrote its own copy of the path" \
  "[ \$(cat $work/filejson/trials/*/metrics/var/log/katib/metrics.log | wc -l) -eq 6 ] && [ ! -e /var/log/katib/metrics.log ]"
sed -e 's/format: JSON/format: TEXT/' -e 's/name: shell-file/name: shell-text/' \
  -e "s|command: .*|command: [\"sh\", \"-c\", \"echo accuracy=7; echo 'epoch=1 accuracy=\${trialParameters.x}' >> /var/log/katib/metrics.log\"]|" \
  "$fixtures/file-json.yaml" >"$work/text.yaml"
ringmaster sweep "$work/text.yaml" --dir "$work/filetext" >"$work/filetext.out" 2>&1; rc=$?
check "File collector, TEXT: read with the metrics format" \
  "[ $rc -eq 0 ] && [ \$(grep -c ' Succeeded: ' $work/filetext.out) -eq 3 ] && ! grep -q 'accuracy=7\$' $work/filetext.out"

# --- v1alpha3 goTemplate under tpe -------------------------------------------------------------
ringmaster sweep "$fixtures/v1alpha3.yaml" --dir "$work/v1alpha3" >"$work/v1alpha3.out" 2>&1; rc=$?
check "v1alpha3: the goTemplate experiment runs its 4 tpe trials" \
  "[ $rc -eq 0 ] && [ \$(grep -c ' Succeeded: ' $work/v1alpha3.out) -eq 4 ]"
check "... with .Trial, .Experiment and .HyperParameters rendered" \
  "grep -q 'trial=shell-v1alpha3-002 experiment=shell-v1alpha3 args=--x=0' $work/v1alpha3/trials/shell-v1alpha3-002/output.log"

# --- hyperband ------------------------------------------------------------------------------------
shell_exp hb 0 "echo accuracy=\$(awk 'BEGIN{print \${trialParameters.x} * \${trialParameters.epochs} / 9}')" |
  sed -e 's/algorithmName: random/algorithmName: hyperband/' -e 's/name: random_state/name: resource_name/' \
      -e 's/value: "11"/value: epochs\n      - name: r_l\n        value: "9"\n      - name: eta\n        value: "3"/' \
      -e 's/goal: 0.9/goal: 2/' -e 's/parallelTrialCount: 2/parallelTrialCount: 3/' \
      -e 's/      feasibleSpace: {min: "0", max: "1"}/      feasibleSpace: {min: "0", max: "1"}\n    - name: epochs\n      parameterType: int\n      feasibleSpace: {min: "1", max: "9"}/' \
      -e 's/        reference: x/        reference: x\n      - name: epochs\n        reference: epochs/' >"$work/hb.yaml"
ringmaster sweep "$work/hb.yaml" --dir "$work/hb" >"$work/hb.out" 2>&1; rc=$?
check "hyperband: all 22 trials of the 3 brackets run (ExperimentSuggestionEndReached)" \
  "[ $rc -eq 0 ] && [ \$(grep -c ' Succeeded: ' $work/hb.out) -eq 22 ] && grep -q '(ExperimentSuggestionEndReached)' $work/hb.out"
check "... rung 2 of bracket 2 gets 9 epochs" "grep -q 'hb-013 started: x=.* epochs=9 (bracket 2 rung 2)' $work/hb.out"

# --- sobol: Katib's quasi-random sequence, trial k at point k + 1 ---------------------------------------
shell_exp sobol 0 'echo accuracy=${trialParameters.x}' | sed -e 's/algorithmName: random/algorithmName: sobol/' \
  -e '/name: random_state/d' -e '/value: "11"/d' -e 's/algorithmSettings:/algorithmSettings: []/' \
  -e 's/maxTrialCount: 40/maxTrialCount: 4/' -e 's/parallelTrialCount: 2/parallelTrialCount: 1/' -e 's/goal: 0.9/goal: 2/' >"$work/sobol.yaml"
ringmaster sweep "$work/sobol.yaml" --dir "$work/sobol" >"$work/sobol.out" 2>&1; rc=$?
check "sobol: 4 trials at x = 0.5, 0.75, 0.25, 0.375 (the Sobol sequence after its origin)" \
  "[ $rc -eq 0 ] && [ \"\$(sed -n 's/^trial sobol-00[0-9] started: x=//p' $work/sobol.out | tr '\n' ' ')\" = '0.5 0.75 0.25 0.375 ' ]" ||
  cat "$work/sobol.out"

# --- pbt: examples/pbt-experiment.yaml, smaller (5 members, 3 generations, a slice of the data) -------------
sed -e 's/maxTrialCount: 48 .*/maxTrialCount: 15/' -e 's/value: "8"/value: "5"/' -e 's/value: "0.25"/value: "0.4"/' \
  -e 's|--dataset=fashion-mnist|--dataset=fashion-mnist\n                  - --train-limit=2560\n                  - --test-limit=500|' \
  examples/pbt-experiment.yaml >"$work/pbt.yaml"
ringmaster sweep "$work/pbt.yaml" --dir "$work/pbt" >"$work/pbt1.out" 2>&1 &
driver=$!
for _ in $(seq 600); do  # killed in generation 1, once 7 trials have ended
  n=$(grep -c trial_finished "$work/pbt/journal.jsonl" 2>/dev/null)
  [ "${n:-0}" -ge 7 ] && break
  sleep 0.05
done
kill -9 $driver
wait $driver 2>/dev/null
for _ in $(seq 50); do pgrep -f "run $work/pbt/trials" >/dev/null || break; sleep 0.1; done
cp "$work/pbt/journal.jsonl" "$work/pbt-before.jsonl"
ringmaster sweep --resume "$work/pbt" >"$work/pbt2.out" 2>&1; rc=$?
check "pbt: SIGKILLed in generation 1, resumed, ends with 15 trials (ExperimentMaxTrialsReached)" \
  "[ $rc -eq 0 ] && grep -q '(ExperimentMaxTrialsReached)' $work/pbt2.out && [ \$(grep -c '^fashion-mnist-pbt-0[0-9][0-9]  *Succeeded' $work/pbt2.out) -eq 15 ]" ||
  tail -20 "$work/pbt2.out"
check "... rerunning the generation-1 trials that were running" "grep -q 'resuming: [12] trial' $work/pbt2.out && ! grep -q 'pbt-00[1-5] started' $work/pbt2.out"
# 100 steps per epoch (2560 / 128 = 20, padded): generation g starts from its parent's step 20 g.
/usr/bin/python3 - "$work/pbt" "$work/pbt-before.jsonl" >"$work/pbt-lineage.out" 2>&1 <<'PY'
import json, re, sys, os
d, before = sys.argv[1], sys.argv[2]
created, finished = {}, {}
for line in open(os.path.join(d, "journal.jsonl")):
    r = json.loads(line)
    if r["event"] == "trial_created": created[r["trial"]] = r
    if r["event"] == "trial_finished": finished[r["trial"]] = r
earlier = {}
for line in open(before):
    r = json.loads(line)
    if r["event"] == "trial_created": earlier[r["trial"]] = r
ok = True
def fail(msg):
    global ok; ok = False; print(msg)
gens = sorted(set(r["generation"] for r in created.values()))
if gens != [0, 1, 2]: fail(f"generations {gens}")
for name, r in created.items():
    g = r["generation"]
    if (g == 0) != ("parent" not in r): fail(f"{name}: generation {g} with parent {r.get('parent')}")
    if g > 0 and created[r["parent"]]["generation"] != g - 1: fail(f"{name}: parent from generation {created[r['parent']]['generation']}")
    if name in earlier and {k: v for k, v in earlier[name].items()} != r: fail(f"{name}: lineage changed by --resume")
    log = open(os.path.join(d, "trials", name, "output.log")).read()
    m = re.search(r"resumed from .*/pbt/" + re.escape(name) + r"/ckpt-0*(\d+)\.rmck", log)
    if g > 0 and (not m or int(m.group(1)) != 20 * g): fail(f"{name}: generation {g} resumed from {m and m.group(1)}")
    if g == 0 and m: fail(f"{name}: generation 0 resumed")
    if not os.path.exists(os.path.join(d, "pbt", name, f"ckpt-{20 * (g + 1):010d}.rmck")): fail(f"{name}: no checkpoint at step {20 * (g + 1)}")
exploits = sum("exploits" in r.get("note", "") for r in created.values())
if exploits != 4: fail(f"{exploits} exploiting trials, expected 2 per generation after the first")
print("lineage ok" if ok else "lineage wrong")
PY
check "... every trial of generation g > 0 starts from its parent's checkpoint (step 20 g), in its own directory" \
  "grep -q 'lineage ok' $work/pbt-lineage.out" || cat "$work/pbt-lineage.out"
check "... the lineage recorded before the kill is the lineage after --resume" "! grep -q 'changed by --resume' $work/pbt-lineage.out"
ringmaster sweep status "$work/pbt" >"$work/pbt-status.out" 2>&1
check "... sweep status shows each trial's generation and parent" "grep -q '(generation 2, from fashion-mnist-pbt-0' $work/pbt-status.out"
check "... report.html draws the lineage" "grep -q 'id=\"lineage\"' $work/pbt/report.html && [ \$(grep -o 'class=\"lineage\"' $work/pbt/report.html | wc -l) -eq 10 ]"

# --- two objectives (ringmaster.io/objectives): the Pareto front --------------------------------------
pareto_check() {  # pareto_check DIR STATUS-OUT: the driver's front and hypervolume against our own
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, re, sys
d, status = sys.argv[1], sys.argv[2]
losses, records = {}, []
for line in open(d + "/journal.jsonl"):
    r = json.loads(line)
    if r["event"] == "trial_finished":
        records.append(r)
        if r["status"] == "Succeeded":
            losses[r["trial"]] = (-r["metrics"]["accuracy"], r["metrics"]["cost"])
dom = lambda a, b: all(x <= y for x, y in zip(a, b)) and a != b
front = sorted(t for t, l in losses.items() if not any(dom(m, l) for m in losses.values()))
pts = sorted(l for l in losses.values() if l[0] < 0 and l[1] < 2)  # inside the reference (0, 2)
hv, best_y = 0.0, 2.0
for i, (x, y) in enumerate(pts):
    nxt = pts[i + 1][0] if i + 1 < len(pts) else 0.0
    best_y = min(best_y, y)
    hv += (nxt - x) * (2.0 - best_y)
last = records[-1]
starred = sorted(re.match(r"(\S+)", l).group(1) for l in open(status) if l.rstrip().endswith("  *"))
problems = []
if sorted(last["pareto_front"]) != front: problems.append(f"journal front {last['pareto_front']} != {front}")
if starred != front: problems.append(f"status marks {starred}, expected {front}")
if abs(last["hypervolume"] - hv) > 1e-9: problems.append(f"hypervolume {last['hypervolume']} != {hv}")
if not (2 <= len(front) < len(losses)): problems.append(f"a front of {len(front)} of {len(losses)} proves little")
print("\n".join(problems) or f"front ok: {len(front)} of {len(losses)}, hypervolume {hv:.6f}")
PY
}
ringmaster sweep "$fixtures/pareto.yaml" --dir "$work/pareto" >"$work/pareto.out" 2>&1; rc=$?
ringmaster sweep status "$work/pareto" >"$work/pareto-status.out" 2>&1
pareto_check "$work/pareto" "$work/pareto-status.out" >"$work/pareto-check.out"
check "two objectives under nsga2: 18 trials, the Pareto front and hypervolume as computed here" \
  "[ $rc -eq 0 ] && [ \$(grep -c ' Succeeded: ' $work/pareto.out) -eq 18 ] && grep -q '^front ok' $work/pareto-check.out" ||
  cat "$work/pareto-check.out" "$work/pareto.out"
check "... report.html draws the front (one mark per front trial) and the hypervolume per trial" \
  "[ \$(grep -o 'class=\"trial front-trial\"' $work/pareto/report.html | wc -l) -eq \$(grep -c '  \*\$' $work/pareto-status.out) ] && grep -q 'id=\"hypervolume-per-trial\"' $work/pareto/report.html"
sed -e 's/algorithmName: nsga2/algorithmName: tpe/' -e 's/name: population_size/name: n_startup_trials/' \
  -e 's/name: shell-pareto/name: shell-motpe/' "$fixtures/pareto.yaml" >"$work/motpe.yaml"
ringmaster sweep "$work/motpe.yaml" --dir "$work/motpe" >"$work/motpe.out" 2>&1; rc=$?
ringmaster sweep status "$work/motpe" >"$work/motpe-status.out" 2>&1
pareto_check "$work/motpe" "$work/motpe-status.out" >"$work/motpe-check.out"
check "... and under tpe (MOTPE)" "[ $rc -eq 0 ] && grep -q '^front ok' $work/motpe-check.out" || cat "$work/motpe-check.out"
sed -e 's/algorithmName: nsga2/algorithmName: cmaes/' -e '/population_size/,+1d' "$fixtures/pareto.yaml" >"$work/mo-cmaes.yaml"
ringmaster sweep "$work/mo-cmaes.yaml" --dir "$work/mo-cmaes" >"$work/mo-cmaes.out" 2>&1; rc=$?
check "a single-objective algorithm with two objectives is refused, naming the ones that search several" \
  "[ $rc -eq 2 ] && grep -q 'cmaes searches one objective; with 2 objectives (metadata.annotations\[ringmaster.io/objectives\]) expected one of random, grid, sobol, tpe, multivariate-tpe, nsga2' $work/mo-cmaes.out" ||
  cat "$work/mo-cmaes.out"
sed -e 's/; awk .*"\]/; echo y=${trialParameters.y}"]/' -e 's/maxTrialCount: 18/maxTrialCount: 2/' -e 's/parallelTrialCount: 3/parallelTrialCount: 2/' \
  "$fixtures/pareto.yaml" >"$work/mo-silent.yaml"
ringmaster sweep "$work/mo-silent.yaml" --dir "$work/mo-silent" >"$work/mo-silent.out" 2>&1
check "a trial that reports only the first objective is MetricsUnavailable" "[ \$(grep -c ' MetricsUnavailable: ' $work/mo-silent.out) -eq 2 ]" ||
  cat "$work/mo-silent.out"

# --- Kubeflow Trainer's OptimizationJob: TrainJob trials, parameters as env, metrics by the progress API ----
sed -e 's/numTrials: 6/numTrials: 4/' \
  -e 's|--dataset=fashion-mnist|--dataset=fashion-mnist\n          - --train-limit=2560\n          - --test-limit=500|' \
  examples/optimizationjob.yaml >"$work/opt.yaml"
ringmaster sweep "$work/opt.yaml" --dir "$work/opt" >"$work/opt.out" 2>&1; rc=$?
check "OptimizationJob: the example's 4 TrainJob trials run (Complete)" \
  "[ $rc -eq 0 ] && [ \$(grep -c '^fashion-mnist-tuning-trial-00[1-4]  *Succeeded' $work/opt.out) -eq 4 ]" || tail -20 "$work/opt.out"
t1="$work/opt/trials/fashion-mnist-tuning-trial-001"
check "... each a TrainJob handed its parameters as Trainer's controller does (KUBEFLOW_TRAINER_OPT_*, an annotation)" \
  "grep -q 'name: KUBEFLOW_TRAINER_OPT_LR' $t1/job.yaml && grep -q 'trainer.kubeflow.org/parameter-assignments: ' $t1/job.yaml && grep -q 'trainer.kubeflow.org/optimization-job: fashion-mnist-tuning' $t1/job.yaml"
/usr/bin/python3 - "$work/opt" >"$work/opt-check.out" 2>&1 <<'PY'
import json, os, sys, yaml
d = sys.argv[1]
finished = {}
for line in open(os.path.join(d, "journal.jsonl")):
    r = json.loads(line)
    if r["event"] == "trial_finished": finished[r["trial"]] = r
problems = []
for name, r in finished.items():
    lines = [json.loads(l) for l in open(os.path.join(d, "trials", name, "progress.jsonl"))]
    if len(lines) != 3: problems.append(f"{name}: {len(lines)} progress updates, expected 2 epochs and the end")
    if r["objective"] != lines[-1]["accuracy"]: problems.append(f"{name}: objective {r['objective']} is not the last reported accuracy {lines[-1]['accuracy']}")
    status = json.load(open(os.path.join(d, "trials", name, "trainer-status.json")))
    if status["progressPercentage"] != 100: problems.append(f"{name}: trainerStatus at {status['progressPercentage']}%")
best = max(finished.values(), key=lambda r: r["objective"])
job = yaml.safe_load(open(os.path.join(d, "optimizationjob.yaml")))
result = job["status"]["result"]
created = {}
for line in open(os.path.join(d, "journal.jsonl")):
    r = json.loads(line)
    if r["event"] == "trial_created": created[r["trial"]] = dict(r["assignment"])
if result["trainJobName"] != best["trial"]: problems.append(f"status.result names {result['trainJobName']}, the best is {best['trial']}")
if {p["name"]: p["value"] for p in result["parameters"]} != created[best["trial"]]: problems.append("status.result's parameters are not the best trial's")
types = [(c["type"], c["status"], c["reason"]) for c in job["status"]["conditions"]]
if types != [("Created", "True", "TrainJobsCreated"), ("Complete", "True", "MaxTrialsReached")]: problems.append(f"conditions {types}")
print("\n".join(problems) or "opt ok")
PY
check "... each reported through the progress API only (3 updates; its objective is the last accuracy reported)" \
  "grep -q '^opt ok' $work/opt-check.out" || cat "$work/opt-check.out"
ringmaster validate "$work/opt/optimizationjob.yaml" >/dev/null 2>"$work/opt-validate.err"; rc=$?
check "... status.result and conditions written as Trainer writes them, valid against the CRD" \
  "[ $rc -eq 0 ] && grep -q 'trainJobName: fashion-mnist-tuning-trial-00' $work/opt/optimizationjob.yaml" || cat "$work/opt-validate.err"
ringmaster sweep "$fixtures/optimizationjob-python.yaml" --dir "$work/opy" >"$work/opy.out" 2>&1; rc=$?
check "... a Python trial reporting over raw HTTP (Trainer's guide, option C) is read too: grid, best x=0.3" \
  "[ $rc -eq 0 ] && grep -q '^best: python-progress-trial-002 score=1 with x=0.3' $work/opy.out" || tail -5 "$work/opy.out"
ringmaster render examples/optimizationjob.yaml --mode crd >"$work/opt-crd.yaml" 2>&1; rc=$?
check "... rendered with --mode crd, the CRD's defaults filled in" \
  "[ $rc -eq 0 ] && grep -q 'kind: OptimizationJob' $work/opt-crd.yaml && grep -q 'type: Float' $work/opt-crd.yaml"
sed -e 's/parallelTrials: 2/parallelTrials: 7/' examples/optimizationjob.yaml >"$work/opt-bad.yaml"
ringmaster sweep "$work/opt-bad.yaml" --dir "$work/opt-bad" >"$work/opt-bad.out" 2>&1; rc=$?
check "... an invalid one is refused at its line and column, with the CRD's message" \
  "[ $rc -eq 2 ] && grep -q 'opt-bad.yaml:[0-9]*:[0-9]*: error: spec: parallelTrials cannot exceed numTrials' $work/opt-bad.out" ||
  cat "$work/opt-bad.out"

# --- the report -----------------------------------------------------------------------------------
check "report.html is written, one mark per scored trial" \
  "[ \$(grep -o 'class=\"trial\" data-trial=\"shell-medianstop-00' $work/median/report.html | wc -l) -eq 10 ]"

# --- refusals ---------------------------------------------------------------------------------------
sed -e 's/algorithmName: random/algorithmName: enas/' "$work/goal.yaml" >"$work/enas.yaml"
ringmaster sweep "$work/enas.yaml" --dir "$work/enas" >"$work/enas.out" 2>&1; rc=$?
check "an unsupported algorithm is refused (exit 2), listing the supported ones" \
  "[ $rc -eq 2 ] && grep -q 'expected one of random, grid, tpe, multivariate-tpe, bayesianoptimization, cmaes, hyperband, sobol, pbt, nsga2, found \"enas\": enas is neural architecture search' $work/enas.out"
ringmaster sweep "$work/goal.yaml" --dir "$work/goal" >"$work/again.out" 2>&1; rc=$?
check "a directory with an experiment is not overwritten" "[ $rc -eq 2 ] && grep -q 'sweep --resume' $work/again.out"
exit $fail
