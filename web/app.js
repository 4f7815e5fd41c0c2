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
        el("td", { class: `phase-${j.phase}` }, j.phase),
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

function drawCurves(box, records) {
  const epochs = records.filter((r) => r.epoch !== undefined && r.step !== undefined);
  const key = JSON.stringify(epochs.map((r) => [r.replica, r.step]));
  if (box.dataset.key === key) return;  // nothing new
  box.dataset.key = key;
  charts.forEach((c) => c.destroy());
  charts = [];
  box.replaceChildren();
  if (!epochs.length) {
    box.append(el("p", { class: "muted" }, "no metrics yet (ringmaster train writes one record per epoch)"));
    return;
  }
  const steps = epochs.map((r) => r.step);
  for (const [field, title] of series) {
    if (!epochs.some((r) => typeof r[field] === "number")) continue;
    const div = el("div", { class: "chart", "data-series": field, "data-points": steps.length });
    box.append(div);
    const short = (u, splits) => splits.map((v) => (v === 0 ? "0" : Math.abs(v) >= 1000 ? v.toFixed(0) : +v.toPrecision(3)));
    charts.push(new uPlot({ title, width: 360, height: 200, scales: { x: { time: false } },
      axes: [{}, { size: 64, values: short }],
      series: [{ label: "step" }, { label: title, stroke: "#1565c0", points: { size: 6 } }] },
      [steps, epochs.map((r) => r[field] ?? null)], div));
  }
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

async function act(job, verb) {
  if (!confirm(`${verb} job ${job}?`)) return;
  try {
    await api(`/api/jobs/${job}/${verb}`, { method: "POST" });
  } catch (e) {
    alert(`${verb}: ${e.message}`);
  }
}

async function showJob(name) {
  document.getElementById("where").textContent = `/ ${name}`;
  const head = el("div", { id: "head" });
  const actions = el("p", {},
    el("button", { id: "suspend" }, "Suspend"), el("button", { id: "resume" }, "Resume"));
  actions.querySelector("#suspend").onclick = () => act(name, "suspend");
  actions.querySelector("#resume").onclick = () => act(name, "resume");
  const replicas = el("table", { id: "replicas" });
  const curves = el("div", { class: "charts", id: "curves" });
  const split = el("p", { id: "split", class: "muted" });
  const events = el("ol", { class: "events", id: "events" });
  const picker = el("select", { id: "replica" });
  const log = el("pre", { class: "log", id: "log" });
  main.replaceChildren(head, actions, el("h3", {}, "Training curves"), curves, split, el("h3", {}, "Replicas"), replicas,
    el("h3", {}, "Log "), picker, log, el("h3", {}, "Events"), events);
  picker.onchange = () => followLog(name, picker.value, log);
  const draw = async () => {
    const [job, metrics] = await Promise.all([api(`/api/jobs/${name}`), api(`/api/jobs/${name}/metrics`)]);
    head.replaceChildren(el("h2", {}, `${name} `, el("span", { class: `phase-${job.phase}`, id: "phase" }, job.phase)),
      el("p", {}, `${job.kind}${job.elapsedSeconds ? ` · ${seconds(job.elapsedSeconds)}` : ""} · conditions: `,
        el("span", { id: "conditions" }, (job.conditions || []).join(" → ")), job.suspended ? " · suspended" : "",
        job.message ? ` · ${job.message}` : ""));
    replicas.replaceChildren(el("tr", {}, ...["replica", "phase", "restarts", "last exit", "CPUs"].map((h) => el("th", {}, h))),
      ...(job.replicas || []).map((r) => el("tr", {}, el("td", {}, r.name), el("td", { class: `phase-${r.phase}` }, r.phase),
        el("td", {}, r.restarts ?? 0), el("td", {}, r.lastExit ?? ""),
        el("td", {}, Array.isArray(r.cpus) ? r.cpus.join(",") : "not pinned"))));
    events.replaceChildren(...(job.events || []).map((e) => el("li", {}, `${e.time} ${e.text}`)));
    const names = (job.replicas || []).map((r) => r.name);
    if (picker.options.length !== names.length) {
      picker.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
      if (names.length) followLog(name, names[0], log);
    }
    drawCurves(curves, metrics);
    const summary = metrics.filter((r) => r.summary).pop();  // written when training ends
    split.textContent = summary && typeof summary.compute_ms === "number"
      ? `time per step over the run: compute ${summary.compute_ms.toFixed(2)} ms, waiting for the allreduce ` +
        `${summary.allreduce_wait_ms.toFixed(2)} ms, waiting for data ${summary.data_wait_ms.toFixed(2)} ms`
      : "";
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
  main.replaceChildren(head, plots, el("h3", {}, "Trials"), trials, el("h3", {}, "Algorithm"), settings);
  const draw = async () => {
    const x = await api(`/api/sweeps/${name}`);
    head.replaceChildren(el("h2", {}, `${name} `, el("span", { class: `phase-${x.state}`, id: "state" }, x.state)),
      el("p", {}, `${x.algorithm} search · ${x.objective.type} ${x.objective.metric}` +
        (x.objective.goal !== undefined ? ` (goal ${x.objective.goal})` : "") + ` · best: `,
        el("b", { id: "best" }, x.best ? `${x.best.trial} (${x.best.value})` : "none yet")));
    trials.replaceChildren(el("tr", {}, ...["trial", "status", x.objective.metric, ...x.parameters, "note"].map((h) => el("th", {}, h))),
      ...x.trials.map((t) => el("tr", { "data-trial": t.name, class: x.best && x.best.trial === t.name ? "best" : "" },
        el("td", {}, t.name), el("td", { class: `phase-${t.status}` }, t.status), el("td", {}, t.objective ?? "-"),
        ...x.parameters.map((p) => el("td", {}, t.assignment[p] ?? "")), el("td", {}, t.note))));
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
