// ringmaster dashboard: the jobs list (#/) and a job (#/jobs/NAME) over the JSON API of
// dashboard/server.h. Curves are drawn by uPlot; a replica's log follows over server-sent events.
"use strict";

const main = document.getElementById("main");
let refresh = null;       // the page's periodic reload (2 s)
let logStream = null;     // the EventSource of the log being followed
let charts = [];
let parallel = null;      // the sweep page's ECharts chart
let shown = 0;            // which page is on screen (route() counts); a page left while it loads stops there

const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) k === "class" ? (e.className = v) : e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const api = async (path, options) => {
  const r = await fetch(path, options);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
};
const finished = (phase) => phase === "Succeeded" || phase === "Failed";
const orphaned = (j) => !finished(j.phase) && j.launcherAlive === false;  // its launcher was killed
const seconds = (s) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

function leave() {
  clearInterval(refresh);
  if (parallel) parallel.dispose();
  parallel = null;
  if (logStream) logStream.close();
  logStream = null;
  charts.forEach((c) => c.destroy());
  charts = [];
}

// ---- the jobs list ----
async function showJobs() {
  document.getElementById("where").textContent = "jobs";
  const filter = el("select", { id: "phase" }, el("option", { value: "" }, "every phase"));
  for (const p of ["Running", "Succeeded", "Failed", "Suspended", "Restarting", "Created"]) filter.append(el("option", { value: p }, p));
  const table = el("table", { id: "jobs" });
  main.replaceChildren(el("p", {}, "Phase: ", filter), table);
  const draw = async () => {
    const jobs = await api("/api/jobs");
    const rows = jobs.filter((j) => !filter.value || j.phase === filter.value).map((j) =>
      el("tr", { "data-job": j.name },
        el("td", {}, el("a", { href: `#/jobs/${j.name}` }, j.name)), el("td", {}, j.kind),
        el("td", { class: `phase-${j.phase}`, title: orphaned(j) ? "no launcher runs it now" : "" }, j.phase + (orphaned(j) ? "?" : "")),
        el("td", {}, `${j.replicas.active} / ${j.replicas.succeeded} / ${j.replicas.failed}`),
        el("td", {}, j.restarts), el("td", {}, j.start), el("td", {}, seconds(j.seconds))));
    table.replaceChildren(el("tr", {}, ...["job", "kind", "phase", "active / succeeded / failed", "restarts", "started", "duration"].map((h) => el("th", {}, h))), ...rows);
    if (!rows.length) table.append(el("tr", {}, el("td", { class: "muted", colspan: 7 }, jobs.length ? "no job in this phase" : "no jobs yet: ringmaster run JOB.yaml")));
  };
  filter.onchange = draw;
  const mine = shown;
  await draw();
  if (mine === shown) refresh = setInterval(() => draw().catch(() => {}), 2000);
}

// ---- a job ----
const series = [
  ["loss", "training loss"], ["train_accuracy", "training accuracy"], ["accuracy", "test accuracy"],
  ["samples_per_sec", "samples/s"], ["lr", "learning rate"],
];

const isStep = (r) => r.window_steps !== undefined;  // a record of the last second's steps

// One chart per series: the per-step records as a line (loss, samples/s), the per-epoch ones as
// points; then the step time split into compute, allreduce wait and data wait, per step.
function drawCurves(box, records) {
  const epochs = records.filter((r) => r.epoch !== undefined && r.step !== undefined);
  const steps = records.filter(isStep);
  const key = JSON.stringify([epochs.map((r) => [r.replica, r.step]), steps.map((r) => [r.replica, r.step])]);
  if (box.dataset.key === key) return;  // nothing new
  box.dataset.key = key;
  charts.forEach((c) => c.destroy());
  charts = [];
  box.replaceChildren();
  if (!epochs.length && !steps.length) {
    box.append(el("p", { class: "muted" }, "no metrics yet (ringmaster train writes a record a second and one per epoch)"));
    return;
  }
  const short = (u, splits) => splits.map((v) => (v === 0 ? "0" : Math.abs(v) >= 1000 ? v.toFixed(0) : +v.toPrecision(3)));
  const chart = (div, title, lines, data) => charts.push(new uPlot({ title, width: 360, height: 200, scales: { x: { time: false } },
    axes: [{}, { size: 64, values: short }], series: [{ label: "step" }, ...lines] }, data, div));
  for (const [field, title] of series) {
    const perEpoch = epochs.filter((r) => typeof r[field] === "number");
    const perStep = steps.filter((r) => typeof r[field] === "number");
    if (!perEpoch.length && !perStep.length) continue;
    const div = el("div", { class: "chart", "data-series": field, "data-points": perEpoch.length, "data-steps": perStep.length });
    box.append(div);
    // uPlot wants one x array: every step either kind has, each series null where it has none.
    const xs = [...new Set([...perStep, ...perEpoch].map((r) => r.step))].sort((a, b) => a - b);
    const at = (rows) => { const m = new Map(rows.map((r) => [r.step, r[field]])); return xs.map((x) => m.get(x) ?? null); };
    const lines = [], data = [xs];
    if (perStep.length) {
      lines.push({ label: "each second", stroke: "#90a4ae", width: 1, spanGaps: true, points: { show: false } });
      data.push(at(perStep));
    }
    if (perEpoch.length) {
      lines.push({ label: "each epoch", stroke: "#1565c0", width: perStep.length ? 0 : 2, points: { size: 7 }, spanGaps: true });
      data.push(at(perEpoch));
    }
    chart(div, title, lines, data);
  }
  const timed = steps.filter((r) => typeof r.compute_ms === "number");
  if (timed.length) {
    const div = el("div", { class: "chart", id: "split-chart", "data-steps": timed.length });
    box.append(div);
    chart(div, "ms per step", [
      { label: "compute", stroke: "#1565c0" }, { label: "allreduce wait", stroke: "#ef6c00" }, { label: "data wait", stroke: "#2e7d32" }],
      [timed.map((r) => r.step), timed.map((r) => r.compute_ms), timed.map((r) => r.allreduce_wait_ms), timed.map((r) => r.data_wait_ms)]);
  }
}

// Perfetto's documented way in (perfetto.dev/docs/visualization/deep-linking-to-perfetto-ui):
// open ui.perfetto.dev, PING it until it answers PONG, then post the trace's bytes.
async function openInPerfetto(url, title) {
  const origin = "https://ui.perfetto.dev";
  const win = window.open(origin);
  if (!win) return alert("the browser blocked the Perfetto window: allow pop-ups, or download the trace and open it there");
  const buffer = await (await fetch(url)).arrayBuffer();
  const ping = setInterval(() => win.postMessage("PING", origin), 100);
  const onMessage = (e) => {
    if (e.source !== win || e.data !== "PONG") return;
    clearInterval(ping);
    window.removeEventListener("message", onMessage);
    win.postMessage({ perfetto: { buffer, title, fileName: `${title}.json` } }, origin);
  };
  window.addEventListener("message", onMessage);
  setTimeout(() => clearInterval(ping), 60000);  // offline: give up
}

function followLog(job, replica, pre) {
  if (logStream) logStream.close();
  pre.textContent = "";
  logStream = new EventSource(`/api/jobs/${job}/logs/${replica}/stream`);
  logStream.onmessage = (e) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(e.data + "\n");
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
}

// An action with confirmation: POST /api/{what}/{name}/{verb}. true when it was done.
async function act(what, name, verb, question) {
  if (!confirm(question || `${verb} ${what === "jobs" ? "job" : "experiment"} ${name}?`)) return false;
  try {
    await api(`/api/${what}/${name}/${verb}`, { method: "POST" });
    return true;
  } catch (e) {
    alert(`${verb}: ${e.message}`);
    return false;
  }
}

async function showJob(name) {
  document.getElementById("where").textContent = `/ ${name}`;
  const head = el("div", { id: "head" });
  const actions = el("p", {},
    el("button", { id: "suspend" }, "Suspend"), el("button", { id: "resume" }, "Resume"), el("button", { id: "delete", class: "danger" }, "Delete"));
  actions.querySelector("#suspend").onclick = () => act("jobs", name, "suspend");
  actions.querySelector("#resume").onclick = () => act("jobs", name, "resume");
  actions.querySelector("#delete").onclick = async () => {
    if (await act("jobs", name, "delete", `delete job ${name}? Its replicas are stopped and its directory (logs, metrics) removed.`))
      location.hash = "#/";
  };
  const traces = el("p", { id: "traces" });
  const replicas = el("table", { id: "replicas" });
  const curves = el("div", { class: "charts", id: "curves" });
  const split = el("p", { id: "split", class: "muted" });
  const events = el("ol", { class: "events", id: "events" });
  const picker = el("select", { id: "replica" });
  const log = el("pre", { class: "log", id: "log" });
  main.replaceChildren(head, actions, el("h3", {}, "Training curves"), curves, split, traces, el("h3", {}, "Replicas"), replicas,
    el("h3", {}, "Log "), picker, log, el("h3", {}, "Events"), events);
  picker.onchange = () => followLog(name, picker.value, log);
  const draw = async () => {
    const [job, metrics] = await Promise.all([api(`/api/jobs/${name}`), api(`/api/jobs/${name}/metrics`)]);
    head.replaceChildren(el("h2", {}, `${name} `, el("span", { class: `phase-${job.phase}`, id: "phase" }, job.phase + (orphaned(job) ? "?" : ""))),
      el("p", {}, `${job.kind}${job.elapsedSeconds ? ` · ${seconds(job.elapsedSeconds)}` : ""} · conditions: `,
        el("span", { id: "conditions" }, (job.conditions || []).join(" → ")), job.suspended ? " · suspended" : "",
        job.message ? ` · ${job.message}` : ""));
    replicas.replaceChildren(el("tr", {}, ...["replica", "phase", "restarts", "last exit", "CPUs", "GPUs"].map((h) => el("th", {}, h))),
      ...(job.replicas || []).map((r) => el("tr", { "data-replica": r.name }, el("td", {}, r.name), el("td", { class: `phase-${r.phase}` }, r.phase),
        el("td", {}, r.restarts ?? 0), el("td", {}, r.lastExit ?? ""),
        el("td", {}, Array.isArray(r.cpus) ? r.cpus.join(",") : "not pinned"),
        el("td", { class: "gpus" }, r.gpus === undefined ? "-" : r.gpus === "" ? "none" : r.gpus))));
    events.replaceChildren(...(job.events || []).map((e) => el("li", {}, `${e.time} ${e.text}`)));
    const names = (job.replicas || []).map((r) => r.name);
    if (picker.options.length !== names.length) {
      picker.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
      if (names.length) followLog(name, names[0], log);
    }
    drawCurves(curves, metrics);
    // The run's split once training ends (the summary), else the last second's.
    const summary = metrics.filter((r) => r.summary).pop();
    const latest = metrics.filter((r) => isStep(r) && typeof r.compute_ms === "number").pop();
    const shownSplit = summary && typeof summary.compute_ms === "number" ? summary : latest;
    split.textContent = shownSplit
      ? `time per step ${shownSplit === summary ? "over the run" : `now (step ${latest.step})`}: compute ${shownSplit.compute_ms.toFixed(2)} ms, ` +
        `waiting for the allreduce ${shownSplit.allreduce_wait_ms.toFixed(2)} ms, waiting for data ${shownSplit.data_wait_ms.toFixed(2)} ms`
      : "";
    const timelines = metrics.filter((r) => typeof r.timeline === "string");
    if (traces.dataset.key !== JSON.stringify(timelines)) {
      traces.dataset.key = JSON.stringify(timelines);
      traces.replaceChildren(...timelines.flatMap((t) => {
        const url = `/api/jobs/${name}/timeline/${t.replica}`;
        const open = el("button", { class: "perfetto" }, "Open in Perfetto");
        open.onclick = () => openInPerfetto(url, `${name} ${t.replica}`);
        return [`step timeline of ${t.replica}: `, el("a", { href: url, class: "trace" }, "download (Chrome trace JSON)"), " ", open];
      }));
    }
  };
  const mine = shown;
  await draw();
  if (mine === shown) refresh = setInterval(() => draw().catch(() => {}), 2000);
}

// ---- sweeps ----
async function showSweeps() {
  document.getElementById("where").textContent = "sweeps";
  const table = el("table", { id: "sweeps" });
  main.replaceChildren(table);
  const draw = async () => {
    const sweeps = await api("/api/sweeps");
    table.replaceChildren(el("tr", {}, ...["experiment", "algorithm", "state", "trials", "best trial", "objective"].map((h) => el("th", {}, h))),
      ...sweeps.map((x) => el("tr", { "data-sweep": x.name },
        el("td", {}, el("a", { href: `#/sweeps/${x.name}` }, x.name)), el("td", {}, x.algorithm),
        el("td", { class: `phase-${x.state}` }, x.state + (x.reason ? ` (${x.reason})` : "")), el("td", {}, x.trialCount),
        el("td", {}, x.best ? x.best.trial : "-"),
        el("td", {}, x.best ? `${x.objective.metric} = ${x.best.value}` : "-"))));
    if (!sweeps.length) table.append(el("tr", {}, el("td", { class: "muted", colspan: 6 }, "no experiments yet: ringmaster sweep EXPERIMENT.yaml")));
  };
  const mine = shown;
  await draw();
  if (mine === shown) refresh = setInterval(() => draw().catch(() => {}), 2000);
}

// The objective of every finished trial, by trial index; and each trial's reported values, the
// ones medianstop stopped dashed in orange.
function drawSweepCharts(box, x) {
  const key = JSON.stringify(x.trials.map((t) => [t.status, t.series.length]));
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  charts.forEach((c) => c.destroy());
  charts = [];
  box.replaceChildren();
  const done = x.trials.filter((t) => typeof t.objective === "number");
  const over = el("div", { class: "chart", id: "objective", "data-points": done.length });
  box.append(over);
  charts.push(new uPlot({ title: `${x.objective.metric} by trial (${x.objective.type})`, width: 420, height: 220,
    scales: { x: { time: false } }, series: [{ label: "trial" }, { label: x.objective.metric, stroke: "#1565c0", width: 0, points: { size: 8 } }] },
    [done.map((t) => t.index), done.map((t) => t.objective)], over));
  box.append(parallelCoordinates(x, done));
  const withSeries = x.trials.filter((t) => t.series.length);
  if (!withSeries.length) return;
  const longest = Math.max(...withSeries.map((t) => t.series.length));
  const curves = el("div", { class: "chart", id: "trial-curves", "data-trials": withSeries.length });
  box.append(curves);
  charts.push(new uPlot({ title: `each trial's ${x.objective.metric} as reported`, width: 420, height: 220,
    scales: { x: { time: false } },
    series: [{ label: "report" }, ...withSeries.map((t) => ({ label: t.name, stroke: t.status === "EarlyStopped" ? "#ef6c00" : "#1565c0",
      dash: t.status === "EarlyStopped" ? [6, 4] : undefined }))] },
    [Array.from({ length: longest }, (_, i) => i + 1), ...withSeries.map((t) => Array.from({ length: longest }, (_, i) => t.series[i] ?? null))],
    curves));
}

// Parameters against the objective, one line per finished trial (ECharts' parallel series): a
// numeric parameter gets a value axis, any other a category axis of the values tried.
function parallelCoordinates(x, done) {
  const div = el("div", { class: "chart", id: "parallel", "data-lines": done.length });
  if (parallel) parallel.dispose();
  parallel = echarts.init(div, null, { renderer: "svg", width: 640, height: 260 });
  const numeric = (p) => done.every((t) => t.assignment[p] !== undefined && !isNaN(Number(t.assignment[p])));
  const axes = x.parameters.map((p, i) => numeric(p)
    ? { dim: i, name: p, type: "value", scale: true }
    : { dim: i, name: p, type: "category", data: [...new Set(done.map((t) => t.assignment[p]))] });
  axes.push({ dim: x.parameters.length, name: x.objective.metric, type: "value", scale: true });
  const values = done.map((t) => t.objective);
  parallel.setOption({
    animation: false,
    title: { text: "parameters against the objective", left: "center", textStyle: { fontSize: 14 } },
    parallel: { top: 70, bottom: 30, left: 40, right: 60 },
    parallelAxis: axes,
    visualMap: { show: false, min: Math.min(...values), max: Math.max(...values), dimension: x.parameters.length,
      inRange: { color: x.objective.type === "maximize" ? ["#ef6c00", "#1565c0"] : ["#1565c0", "#ef6c00"] } },
    series: [{ type: "parallel", lineStyle: { width: 2, opacity: 0.8 },
      data: done.map((t) => [...x.parameters.map((p) => (numeric(p) ? Number(t.assignment[p]) : t.assignment[p])), t.objective]) }],
  });
  return div;
}

async function showSweep(name) {
  document.getElementById("where").textContent = `/ sweeps / ${name}`;
  const head = el("div", { id: "head" });
  const plots = el("div", { class: "charts", id: "sweep-charts" });
  const trials = el("table", { id: "trials" });
  const settings = el("table", { id: "settings" });
  const stop = el("button", { id: "stop", class: "danger" }, "Stop");
  stop.onclick = () => act("sweeps", name, "stop",
    `stop experiment ${name}? Its running trials are stopped; \`ringmaster sweep --resume\` goes on later.`);
  main.replaceChildren(head, el("p", {}, stop), plots, el("h3", {}, "Trials"), trials, el("h3", {}, "Algorithm"), settings);
  const draw = async () => {
    const x = await api(`/api/sweeps/${name}`);
    stop.disabled = x.state !== "Running";
    head.replaceChildren(el("h2", {}, `${name} `, el("span", { class: `phase-${x.state}`, id: "state" }, x.state)),
      el("p", {}, `${x.algorithm} search · ${x.objective.type} ${x.objective.metric}` +
        (x.objective.goal !== undefined ? ` (goal ${x.objective.goal})` : "") + ` · best: `,
        el("b", { id: "best" }, x.best ? `${x.best.trial} (${x.best.value})` : "none yet")),
      x.front ? el("p", { id: "front" }, `${x.objectives.map((o) => `${o.type} ${o.metric}`).join(", ")} · Pareto front: ` +
        `${x.front.length} trial(s)` + (x.hypervolume !== null ? `, hypervolume ${x.hypervolume.toPrecision(6)}` : "")) : "");
    // Multi-objective: every objective's column, and the front's rows marked.
    const metrics = x.objectives ? x.objectives.map((o) => o.metric) : [x.objective.metric];
    const onFront = (t) => x.front ? x.front.includes(t.name) : x.best && x.best.trial === t.name;
    trials.replaceChildren(el("tr", {}, ...["trial", "status", ...metrics, ...x.parameters, "note"].map((h) => el("th", {}, h))),
      ...x.trials.map((t) => el("tr", { "data-trial": t.name, class: onFront(t) ? "best" : "" },
        el("td", {}, t.name), el("td", { class: `phase-${t.status}` }, t.status),
        ...metrics.map((m, k) => el("td", {}, (k === 0 ? t.objective : t.metrics[m]) ?? "-")),
        ...x.parameters.map((p) => el("td", {}, t.assignment[p] ?? "")), el("td", {}, t.parent ? `${t.note} from ${t.parent}` : t.note))));
    const rows = [["algorithm", x.algorithm], ...x.settings.map((s) => [s.name, s.value])];
    if (x.earlyStopping) rows.push(["early stopping", x.earlyStopping.algorithm], ...x.earlyStopping.settings.map((s) => [s.name, s.value]));
    settings.replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
    drawSweepCharts(plots, x);
  };
  const mine = shown;
  await draw();
  if (mine === shown) refresh = setInterval(() => draw().catch(() => {}), 2000);
}

async function route() {
  leave();
  shown++;
  const job = location.hash.match(/^#\/jobs\/([a-z0-9.-]+)$/);
  const sweep = location.hash.match(/^#\/sweeps\/([a-z0-9.-]+)$/);
  try {
    await (job ? showJob(job[1]) : sweep ? showSweep(sweep[1]) : location.hash === "#/sweeps" ? showSweeps() : showJobs());
  } catch (e) {
    main.replaceChildren(el("p", { class: "phase-Failed" }, e.message));
  }
}
window.addEventListener("hashchange", route);
route();
