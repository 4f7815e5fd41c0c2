#include "sweep/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "common/strings.h"
#include "sweep/objectives.h"
#include "sweep/space.h"

namespace ringmaster::sweep {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* colour(const std::string& status) {
  if (status == "Succeeded") return "#2b6cb0";
  if (status == "EarlyStopped") return "#dd6b20";
  return "#a0aec0";
}

// A linear (or log) axis from [lo, hi] onto [a, b] pixels.
struct Scale {
  double lo, hi, a, b;
  bool log = false;
  double operator()(double v) const {
    const double t = log ? (std::log(v) - std::log(lo)) / (std::log(hi) - std::log(lo)) : (v - lo) / (hi - lo);
    return a + (b - a) * (std::isfinite(t) ? t : 0.5);
  }
};

Scale fit(std::vector<double> values, double a, double b, bool log = false) {
  if (values.empty()) return {0, 1, a, b, false};
  auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  double lo = *mn, hi = *mx;
  if (log && lo <= 0) log = false;
  if (hi == lo) {
    lo = log ? lo / 2 : lo - 0.5;
    hi = log ? hi * 2 : hi + 0.5;
  } else if (!log) {
    const double pad = (hi - lo) * 0.05;
    lo -= pad, hi += pad;
  }
  return {lo, hi, a, b, log};
}

constexpr int kWidth = 640, kHeight = 300, kLeft = 64, kRight = 16, kTop = 16, kBottom = 44;

// x_ticks: 0 none (the caller labels the x axis), 1 five even ticks, 2 whole numbers only.
// A tick's text, short enough for the left margin: 395k, 1.2M, 0.8756.
std::string tick(double v) {
  const double a = std::abs(v);
  if (a >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:.3g}k", v / 1e3);
  return fmt::format("{:.4g}", v);
}

std::string axes(const Scale& x, const Scale& y, const std::string& xlabel, const std::string& ylabel, int x_ticks = 1) {
  std::string s = fmt::format(R"(<line class="axis" x1="{0}" y1="{1}" x2="{2}" y2="{1}"/><line class="axis" x1="{0}" y1="{3}" x2="{0}" y2="{1}"/>)",
                              kLeft, kHeight - kBottom, kWidth - kRight, kTop);
  for (int i = 0; i <= 4; ++i) {
    const double v = y.log ? std::exp(std::log(y.lo) + (std::log(y.hi) - std::log(y.lo)) * i / 4) : y.lo + (y.hi - y.lo) * i / 4;
    s += fmt::format(R"(<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{}</text>)", kLeft - 6, y(v) + 4, tick(v));
  }
  double last = -1e300;
  for (int i = 0; x_ticks && i <= 4; ++i) {
    double v = x.log ? std::exp(std::log(x.lo) + (std::log(x.hi) - std::log(x.lo)) * i / 4) : x.lo + (x.hi - x.lo) * i / 4;
    if (x_ticks == 2) {
      v = std::ceil(v);
      if (v == last || v > x.hi) continue;
      last = v;
    }
    s += fmt::format(R"(<text class="tick" x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", x(v), kHeight - kBottom + 16, tick(v));
  }
  s += fmt::format(R"(<text class="label" x="{}" y="{}" text-anchor="middle">{}</text>)", (kLeft + kWidth - kRight) / 2, kHeight - 6, escape(xlabel));
  s += fmt::format(R"x(<text class="label" x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>)x",
                   (kTop + kHeight - kBottom) / 2, (kTop + kHeight - kBottom) / 2, escape(ylabel));
  return s;
}

std::string circle(const TrialRecord& t, double cx, double cy, const std::string& metric) {
  return fmt::format(R"(<circle class="trial" data-trial="{0}" data-objective="{1}" cx="{2:.1f}" cy="{3:.1f}" r="4" fill="{4}"><title>{0}: {5}={1} ({6})</title></circle>)",
                     escape(t.name), format_double(*t.objective), cx, cy, colour(t.status), escape(metric), escape(t.status));
}

// What every part of the report shares: the experiment, its trials, the objective.
struct ReportData {
  const SweepResult& r;
  const jobs::Experiment& e;
  std::string metric;
  bool maximize = false;
  std::vector<const TrialRecord*> scored;  // trials with an objective value
  std::vector<double> objectives;          // theirs, in order
};

std::string page_head(const jobs::Experiment& e) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += fmt::format("<title>Experiment {}</title>\n", escape(e.metadata.name));
  h += R"(<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1a202c; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 6px; }
.summary { color: #4a5568; } .best { background: #f0fff4; border: 1px solid #9ae6b4; padding: 8px 12px; display: inline-block; }
svg { background: #fff; border: 1px solid #e2e8f0; } .axis { stroke: #718096; stroke-width: 1; }
.tick { font-size: 11px; fill: #4a5568; } .label { font-size: 12px; fill: #2d3748; }
.best-so-far { fill: none; stroke: #38a169; stroke-width: 2; } .front { fill: none; stroke: #d53f8c; stroke-width: 1.5; }
table { border-collapse: collapse; margin-top: 6px; } td, th { padding: 3px 10px; border-bottom: 1px solid #e2e8f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } tr.best-row { background: #f0fff4; }
.legend span { margin-right: 14px; } .dot { display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 4px; }
</style>
</head>
<body>
)";
  return h;
}

// The title, the counts by status, how the experiment ended and the best trial.
std::string summary_section(const ReportData& d) {
  const SweepResult& r = d.r;
  const jobs::Experiment& e = d.e;
  const std::string& metric = d.metric;
  const bool maximize = d.maximize;
  std::string h;
  h += fmt::format("<h1>Experiment {}</h1>\n", escape(e.metadata.name));
  int counts[4] = {0, 0, 0, 0};
  for (const auto& t : r.trials) {
    counts[0] += t.status == "Succeeded";
    counts[1] += t.status == "EarlyStopped";
    counts[2] += t.status == "Running";
    counts[3] += t.status != "Succeeded" && t.status != "EarlyStopped" && t.status != "Running";
  }
  h += fmt::format("<p class=\"summary\">{} search, {} {}; {} trial(s): {} succeeded, {} early stopped, {} running, {} other. {}</p>\n",
                   escape(e.algorithm.name), maximize ? "maximize" : "minimize", escape(metric), r.trials.size(), counts[0],
                   counts[1], counts[2], counts[3],
                   r.condition.empty() ? std::string("The experiment is running.")
                                       : fmt::format("The experiment ended: {} ({}).", escape(r.condition), escape(r.reason)));
  if (objectives_of(e).size() > 1) {
    h += fmt::format("<p class=\"best\" id=\"front-summary\">Pareto front: {} trial(s){}</p>\n", r.front.size(),
                     r.hypervolume ? fmt::format(", hypervolume {}", format_double(*r.hypervolume)) : "");
  } else if (r.best) {
    const auto& b = r.trials[*r.best];
    std::string params;
    for (const auto& [k, v] : b.assignment) params += fmt::format("{}{}={}", params.empty() ? "" : ", ", escape(k), escape(v));
    h += fmt::format("<p class=\"best\" id=\"best-trial\">Best trial <b>{}</b>: {}={} with {}</p>\n", escape(b.name), escape(metric),
                     format_double(*b.objective), params);
  }
  return h;
}

// The objective per trial, and the best so far.
std::string objective_chart(const ReportData& d) {
  const SweepResult& r = d.r;
  const std::string& metric = d.metric;
  const bool maximize = d.maximize;
  std::string h;
  h += fmt::format("<h2>{} per trial</h2>\n<div class=\"legend\"><span><i class=\"dot\" style=\"background:#2b6cb0\"></i>succeeded</span>"
                   "<span><i class=\"dot\" style=\"background:#dd6b20\"></i>early stopped</span><span style=\"color:#38a169\">&#8212; best so far</span></div>\n",
                   escape(metric));
  const Scale x{0.5, static_cast<double>(std::max<std::size_t>(1, r.trials.size())) + 0.5, kLeft, kWidth - kRight - 0.0};
  const Scale y = fit(d.objectives, kHeight - kBottom - 8, kTop + 8);
  h += fmt::format("<svg id=\"objective-per-trial\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\">", kWidth, kHeight);
  h += axes(x, y, "trial", metric, 2);
  std::string line;
  std::optional<double> best;
  for (std::size_t i = 0; i < r.trials.size(); ++i) {
    const auto& t = r.trials[i];
    if (!t.objective) continue;
    const double px = x(static_cast<double>(i + 1));
    if (best) line += fmt::format(" {:.1f},{:.1f}", px, y(*best));
    if ((t.status == "Succeeded" || t.status == "EarlyStopped") && (!best || (maximize ? *t.objective > *best : *t.objective < *best)))
      best = *t.objective;
    if (best) line += fmt::format(" {:.1f},{:.1f}", px, y(*best));
  }
  if (!line.empty()) h += fmt::format("<polyline class=\"best-so-far\" points=\"{}\"/>", line.substr(1));
  for (std::size_t i = 0; i < r.trials.size(); ++i)
    if (r.trials[i].objective) h += circle(r.trials[i], x(static_cast<double>(i + 1)), y(*r.trials[i].objective), metric);
  h += "</svg>\n";
  return h;
}

// One parameter against the objective: categories along the axis, or numbers (log scale where
// the parameter's distribution is).
std::string parameter_chart(const ReportData& d, const jobs::ParameterSpec& spec) {
  const std::string& metric = d.metric;
  const auto& scored = d.scored;
  const auto& objectives = d.objectives;
  std::string h;
  h += fmt::format("<h2>{} against {}</h2>\n", escape(spec.name), escape(metric));
  const bool listed = spec.type == jobs::ParameterType::kCategorical || spec.type == jobs::ParameterType::kDiscrete;
  const Scale y = fit(objectives, kHeight - kBottom - 8, kTop + 8);
  h += fmt::format("<svg id=\"parameter-{0}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{1}\" height=\"{2}\" viewBox=\"0 0 {1} {2}\">",
                   escape(spec.name), kWidth, kHeight);
  auto value_of = [&](const TrialRecord& t) -> std::string {
    for (const auto& [k, v] : t.assignment)
      if (k == spec.name) return v;
    return "";
  };
  if (listed) {
    const auto& values = spec.feasible_space.list;
    const Scale x{0, static_cast<double>(std::max<std::size_t>(1, values.size())), kLeft, kWidth - kRight - 0.0};
    h += axes(x, y, spec.name, metric, 0);
    for (std::size_t k = 0; k < values.size(); ++k)
      h += fmt::format(R"(<text class="tick" x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", x(k + 0.5), kHeight - kBottom + 16,
                       escape(values[k]));
    for (const auto* t : scored) {
      const auto it = std::find(values.begin(), values.end(), value_of(*t));
      if (it == values.end()) continue;
      h += circle(*t, x(static_cast<double>(it - values.begin()) + 0.5), y(*t->objective), metric);
    }
  } else {
    std::vector<double> xs;
    for (const auto* t : scored)
      if (auto v = parse_double(value_of(*t))) xs.push_back(*v);
    const bool log = spec.feasible_space.distribution == jobs::Distribution::kLogUniform ||
                     spec.feasible_space.distribution == jobs::Distribution::kLogNormal;
    const Scale x = fit(xs, kLeft + 8, kWidth - kRight - 8, log);
    h += axes(x, y, spec.name + (x.log ? " (log scale)" : ""), metric);
    for (const auto* t : scored)
      if (auto v = parse_double(value_of(*t))) h += circle(*t, x(*v), y(*t->objective), metric);
  }
  h += "</svg>\n";
  return h;
}

// Multi-objective: the first two objectives of every scored trial, the Pareto front marked and
// joined by its staircase, and the hypervolume of the first k trials for every k (two objectives;
// against the reference the result names).
std::string pareto_charts(const ReportData& d) {
  const auto objectives = objectives_of(d.e);
  if (objectives.size() < 2) return "";
  const SweepResult& r = d.r;
  auto value = [&](const TrialRecord& t, std::size_t k) { return metric_value(t, objectives[k].metric).value_or(0.0); };
  std::vector<const TrialRecord*> points;
  std::vector<double> xs, ys;
  for (const auto& t : r.trials)
    if (scored(d.e, t)) {
      points.push_back(&t);
      xs.push_back(value(t, 0));
      ys.push_back(value(t, 1));
    }
  auto direction = [&](std::size_t k) {
    return objectives[k].metric + (objectives[k].type == jobs::ObjectiveType::kMaximize ? " (maximize)" : " (minimize)");
  };
  std::string h = fmt::format("<h2>Pareto front: {} against {}</h2>\n<div class=\"legend\"><span><i class=\"dot\" "
                              "style=\"background:#d53f8c\"></i>on the front ({} trials)</span><span><i class=\"dot\" "
                              "style=\"background:#a0aec0\"></i>dominated</span></div>\n",
                              escape(objectives[1].metric), escape(objectives[0].metric), r.front.size());
  const Scale x = fit(xs, kLeft + 8, kWidth - kRight - 8), y = fit(ys, kHeight - kBottom - 8, kTop + 8);
  h += fmt::format("<svg id=\"pareto-front\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\">",
                   kWidth, kHeight);
  h += axes(x, y, direction(0), direction(1));
  std::vector<std::pair<double, double>> front;
  for (std::size_t i : r.front) front.emplace_back(value(r.trials[i], 0), value(r.trials[i], 1));
  std::sort(front.begin(), front.end());
  if (objectives[0].type == jobs::ObjectiveType::kMaximize) std::reverse(front.begin(), front.end());
  std::string stairs;
  for (std::size_t k = 0; k < front.size(); ++k) {
    if (k) stairs += fmt::format(" {:.1f},{:.1f}", x(front[k].first), y(front[k - 1].second));
    stairs += fmt::format(" {:.1f},{:.1f}", x(front[k].first), y(front[k].second));
  }
  if (!stairs.empty()) h += fmt::format("<polyline class=\"front\" points=\"{}\"/>", stairs.substr(1));
  for (std::size_t k = 0; k < points.size(); ++k) {
    const auto* t = points[k];
    const bool on = on_front(r, static_cast<std::size_t>(t - r.trials.data()));
    h += fmt::format(R"(<circle class="{0}" data-trial="{1}" cx="{2:.1f}" cy="{3:.1f}" r="4" fill="{4}"><title>{1}: {5}={6}, {7}={8}</title></circle>)",
                     on ? "trial front-trial" : "trial", escape(t->name), x(xs[k]), y(ys[k]), on ? "#d53f8c" : "#a0aec0",
                     escape(objectives[0].metric), format_double(xs[k]), escape(objectives[1].metric), format_double(ys[k]));
  }
  h += "</svg>\n";
  if (!r.hypervolume) {
    if (objectives.size() > 2) h += "<p class=\"summary\">Hypervolume: computed for two objectives only.</p>\n";
    return h;
  }
  // At most 200 points along the trials (each an O(k log k) sweep), the last one the whole run.
  std::vector<double> hv;
  std::vector<std::size_t> ks;
  const std::size_t n = r.trials.size(), stride = std::max<std::size_t>(1, (n + 199) / 200);
  for (std::size_t k = stride; k < n + stride; k += stride) ks.push_back(std::min(k, n));
  for (std::size_t k : ks) hv.push_back(hypervolume_of(d.e, r.trials, k, r.reference).value_or(0));
  h += fmt::format("<h2>Hypervolume per trial</h2>\n<div class=\"legend\"><span id=\"hypervolume\" data-hypervolume=\"{}\">"
                   "{} after {} trials, up to {}</span></div>\n",
                   format_double(*r.hypervolume), format_double(*r.hypervolume), r.trials.size(),
                   escape(reference_text(d.e, r.reference)));
  const Scale hx{0.5, static_cast<double>(std::max<std::size_t>(1, n)) + 0.5, kLeft, kWidth - kRight - 0.0};
  const Scale hy = fit(hv, kHeight - kBottom - 8, kTop + 8);
  h += fmt::format("<svg id=\"hypervolume-per-trial\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\">",
                   kWidth, kHeight);
  h += axes(hx, hy, "trial", "hypervolume", 2);
  std::string line;
  for (std::size_t k = 0; k < hv.size(); ++k) line += fmt::format(" {:.1f},{:.1f}", hx(static_cast<double>(ks[k])), hy(hv[k]));
  h += fmt::format("<polyline class=\"best-so-far\" points=\"{}\"/>", line.substr(1));
  h += "</svg>\n";
  return h;
}

// pbt: the objective of each trial by generation, a line from each trial's parent to it, so a
// lineage reads left to right (an exploited checkpoint is a line that jumps between members).
std::string lineage_chart(const ReportData& d) {
  const SweepResult& r = d.r;
  int generations = 0;
  std::map<std::string, const TrialRecord*> by_name;
  for (const auto& t : r.trials) {
    if (!t.generation) return "";
    generations = std::max(generations, *t.generation + 1);
    by_name[t.name] = &t;
  }
  if (r.trials.empty()) return "";
  std::string h = fmt::format("<h2>Lineage: {} by generation</h2>\n<div class=\"legend\"><span>a line joins a trial to the "
                              "trial whose checkpoint it continued</span></div>\n",
                              escape(d.metric));
  const Scale x{-0.5, static_cast<double>(generations) - 0.5, kLeft, kWidth - kRight - 0.0};
  const Scale y = fit(d.objectives, kHeight - kBottom - 8, kTop + 8);
  h += fmt::format("<svg id=\"lineage\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\">",
                   kWidth, kHeight);
  h += axes(x, y, "generation", d.metric, 2);
  for (const auto& t : r.trials) {
    const auto parent = by_name.find(t.parent);
    if (!t.objective || parent == by_name.end() || !parent->second->objective) continue;
    h += fmt::format(R"(<line class="lineage" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#a0aec0"/>)",
                     x(*parent->second->generation), y(*parent->second->objective), x(*t.generation), y(*t.objective));
  }
  for (const auto& t : r.trials)
    if (t.objective) h += circle(t, x(*t.generation), y(*t.objective), d.metric);
  h += "</svg>\n";
  return h;
}

std::string trial_table(const ReportData& d) {
  const SweepResult& r = d.r;
  const jobs::Experiment& e = d.e;
  const std::string& metric = d.metric;
  std::string h;
  h += "<h2>Trials</h2>\n<table id=\"trials\">\n<tr><th>trial</th><th>status</th>";
  h += fmt::format("<th>{}</th>", escape(metric));
  for (const auto& spec : e.parameters) h += fmt::format("<th>{}</th>", escape(spec.name));
  const bool pbt = !r.trials.empty() && r.trials.front().generation;
  if (pbt) h += "<th>generation</th><th>from</th>";
  h += "</tr>\n";
  for (std::size_t i = 0; i < r.trials.size(); ++i) {
    const auto& t = r.trials[i];
    h += fmt::format("<tr{}><td>{}</td><td>{}</td><td class=\"num\">{}</td>", r.best && *r.best == i ? " class=\"best-row\"" : "",
                     escape(t.name), escape(t.status), t.objective ? format_double(*t.objective) : "-");
    for (const auto& [k, v] : t.assignment) h += fmt::format("<td class=\"num\">{}</td>", escape(v));
    if (pbt) h += fmt::format("<td class=\"num\">{}</td><td>{}</td>", t.generation.value_or(0), escape(t.parent));
    h += "</tr>\n";
  }
  return h;
}

}  // namespace

std::string render_report(const SweepResult& r, const jobs::Experiment& e) {
  ReportData d{r, e, e.objective.objective_metric_name, e.objective.type == jobs::ObjectiveType::kMaximize, {}, {}};
  for (const auto& t : r.trials)
    if (t.objective) d.scored.push_back(&t);
  for (const auto* t : d.scored) d.objectives.push_back(*t->objective);
  std::string h = page_head(e) + summary_section(d) + objective_chart(d) + pareto_charts(d) + lineage_chart(d);
  for (const auto& spec : e.parameters) h += parameter_chart(d, spec);
  h += trial_table(d);
  h += "</table>\n</body>\n</html>\n";
  return h;
}

}  // namespace ringmaster::sweep
