// The report's HTML structure (where Chromium is not installed this is the check that remains),
// the v1alpha3 Go template subset, medianstop's rule and the File collector's JSON lines.
#include <gtest/gtest.h>

#include <regex>
#include <vector>

#include "sweep/gotemplate.h"
#include "sweep/metrics.h"
#include "sweep/report.h"
#include "sweep/suggest.h"

using namespace ringmaster;
using namespace ringmaster::sweep;

namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

jobs::Experiment experiment() {
  jobs::Experiment e;
  e.metadata.name = "demo<&>";
  e.algorithm.name = "tpe";
  e.objective.objective_metric_name = "accuracy";
  jobs::ParameterSpec lr;
  lr.name = "lr";
  lr.feasible_space.min = "0.001";
  lr.feasible_space.max = "0.1";
  lr.feasible_space.distribution = jobs::Distribution::kLogUniform;
  jobs::ParameterSpec opt;
  opt.name = "optimizer";
  opt.type = jobs::ParameterType::kCategorical;
  opt.feasible_space.list = {"sgd", "adam"};
  e.parameters = {lr, opt};
  return e;
}

SweepResult result() {
  SweepResult r;
  const double acc[] = {0.70, 0.85, 0.80, 0.88};
  const char* status[] = {"Succeeded", "Succeeded", "EarlyStopped", "Succeeded"};
  for (int i = 0; i < 4; ++i) {
    TrialRecord t;
    t.name = "demo-00" + std::to_string(i + 1);
    t.index = i;
    t.assignment = {{"lr", i % 2 ? "0.01" : "0.05"}, {"optimizer", i % 2 ? "adam" : "sgd"}};
    t.status = status[i];
    t.objective = acc[i];
    r.trials.push_back(t);
  }
  TrialRecord failed;
  failed.name = "demo-005";
  failed.index = 4;
  failed.assignment = {{"lr", "0.002"}, {"optimizer", "sgd"}};
  failed.status = "Failed";
  r.trials.push_back(failed);
  r.best = 3;
  r.condition = "Succeeded";
  r.reason = "ExperimentMaxTrialsReached";
  return r;
}

}  // namespace

TEST(ReportTest, IsOneSelfContainedDocumentWithEveryChart) {
  const std::string html = render_report(result(), experiment());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  // Nothing fetched: no script, no external stylesheet, image or link.
  for (const char* bad : {"<script", "<link", "<img", "src=", "href=", "url(", "@import"})
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
  // Every opened element is closed, in order (the void <meta> aside).
  std::vector<std::string> stack;
  const std::regex tag(R"(<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>)");
  for (std::sregex_iterator it(html.begin(), html.end(), tag), end; it != end; ++it) {
    const std::string name = (*it)[2];
    if (name == "meta" || (*it)[3] == "/") continue;
    if ((*it)[1] == "/") {
      ASSERT_FALSE(stack.empty()) << "</" << name << "> closes nothing";
      ASSERT_EQ(stack.back(), name) << "</" << name << "> closes <" << stack.back() << ">";
      stack.pop_back();
    } else {
      stack.push_back(name);
    }
  }
  EXPECT_TRUE(stack.empty());
  // Charts: the objective per trial, then one per parameter; each scored trial is a mark in each.
  EXPECT_EQ(count(html, "<svg "), 3u);
  EXPECT_NE(html.find("<svg id=\"objective-per-trial\""), std::string::npos);
  EXPECT_NE(html.find("<svg id=\"parameter-lr\""), std::string::npos);
  EXPECT_NE(html.find("<svg id=\"parameter-optimizer\""), std::string::npos);
  EXPECT_EQ(count(html, "<circle class=\"trial\""), 12u);  // 4 scored trials x 3 charts
  EXPECT_NE(html.find("data-trial=\"demo-004\" data-objective=\"0.88\""), std::string::npos);
  EXPECT_NE(html.find("(log scale)"), std::string::npos);
  // The best so far never goes down (maximize): its y coordinates never increase.
  const auto at = html.find("<polyline class=\"best-so-far\" points=\"");
  ASSERT_NE(at, std::string::npos);
  const std::string points = html.substr(at + 38, html.find('"', at + 38) - at - 38);
  double last_y = 1e9;
  int n = 0;
  const std::regex pair(R"(([\d.]+),([\d.]+))");
  for (std::sregex_iterator it(points.begin(), points.end(), pair), end; it != end; ++it, ++n) {
    const double y = std::stod((*it)[2]);
    EXPECT_LE(y, last_y + 1e-9);
    last_y = y;
  }
  EXPECT_GE(n, 4);
  // The summary, the best trial and the table, with names escaped.
  EXPECT_NE(html.find("Experiment demo&lt;&amp;&gt;"), std::string::npos);
  EXPECT_NE(html.find("Best trial <b>demo-004</b>: accuracy=0.88"), std::string::npos);
  EXPECT_NE(html.find("Succeeded (ExperimentMaxTrialsReached)"), std::string::npos);
  EXPECT_EQ(count(html, "<tr"), 6u);
  EXPECT_NE(html.find("<tr class=\"best-row\"><td>demo-004</td>"), std::string::npos);
}

TEST(GoTemplateTest, RendersKatibV1alpha3Templates) {
  const TemplateValue data = TemplateValue::map(
      {{"Trial", TemplateValue::string("exp-001")},
       {"Experiment", TemplateValue::string("exp")},
       {"NameSpace", TemplateValue::string("kubeflow")},
       {"HyperParameters",
        TemplateValue::array({TemplateValue::map({{"Name", TemplateValue::string("--lr")}, {"Value", TemplateValue::string("0.01")}}),
                              TemplateValue::map({{"Name", TemplateValue::string("--layers")}, {"Value", TemplateValue::string("3")}})})}});
  const std::string text =
      "name: {{.Trial}}\nnamespace: {{.NameSpace}}\nargs:\n  - train\n  {{- with .HyperParameters}}\n  {{- range .}}\n"
      "  - \"{{.Name}}={{.Value}}\"\n  {{- end}}\n  {{- end}}\nlabel: {{if .Experiment}}{{.Experiment}}{{else}}none{{end}}\n";
  auto out = render_go_template(text, data);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(*out,
            "name: exp-001\nnamespace: kubeflow\nargs:\n  - train\n  - \"--lr=0.01\"\n  - \"--layers=3\"\nlabel: exp\n");
}

TEST(GoTemplateTest, RefusesWhatItCannotRenderNamingTheLine) {
  const TemplateValue data = TemplateValue::map({{"Trial", TemplateValue::string("t")}});
  auto unknown = render_go_template("a: 1\nb: {{.Trail}}\n", data);
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("line 2 column 4"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("no field Trail here (there are .Trial)"), std::string::npos);
  auto unclosed = render_go_template("{{range .HyperParameters}}x", data);
  ASSERT_FALSE(unclosed.is_ok());
  EXPECT_NE(unclosed.status().message().find("without {{end}}"), std::string::npos) << unclosed.status().message();
  auto stray = render_go_template("x {{end}}", data);
  ASSERT_FALSE(stray.is_ok());
  EXPECT_NE(stray.status().message().find("{{end}} without a range"), std::string::npos) << stray.status().message();
  auto func = render_go_template("{{printf \"%d\" 3}}", data);
  ASSERT_FALSE(func.is_ok());
  EXPECT_NE(func.status().message().find("found {{printf"), std::string::npos) << func.status().message();
  auto open = render_go_template("a {{.Trial", data);
  ASSERT_FALSE(open.is_ok());
}

TEST(MedianStopTest, StopsATrialWorseThanTheMedianOfRunningAverages) {
  MedianStop m;
  m.min_trials_required = 3;
  m.start_step = 2;
  // Losses. Completed trials' running averages over their first 2 values: 1.5, 2.5, 0.5 -> median 1.5.
  const std::vector<std::vector<double>> done = {{2, 1, 0.5}, {3, 2, 1}, {1, 0, 0}};
  EXPECT_FALSE(m.should_stop({9}, done));       // before start_step
  EXPECT_TRUE(m.should_stop({9, 1.6}, done));   // best 1.6 > 1.5
  EXPECT_FALSE(m.should_stop({9, 1.5}, done));  // not strictly worse
  EXPECT_FALSE(m.should_stop({9, 1.6}, {done[0], done[1]}));  // too few completed trials
  // At step 4 the averages use as many values as each trial has: 7/6, 2, 1/3 -> median 7/6.
  EXPECT_TRUE(m.should_stop({5, 4, 3, 1.2}, done));
  EXPECT_FALSE(m.should_stop({5, 4, 3, 1.1}, done));
}

TEST(MedianStopTest, SettingsAreKatibs) {
  jobs::AlgorithmSpec a;
  a.name = "medianstop";
  a.settings = {{"min_trials_required", "5"}, {"start_step", "7"}};
  auto m = make_median_stop(a);
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->min_trials_required, 5);
  EXPECT_EQ(m->start_step, 7);
  a.settings = {{"start_step", "0"}};
  auto bad = make_median_stop(a);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("spec.earlyStopping.algorithmSettings[0] (start_step)"), std::string::npos)
      << bad.status().message();
  a.name = "hyperband";
  EXPECT_FALSE(make_median_stop(a).is_ok());
}

TEST(MetricsParserTest, FileCollectorJsonLines) {
  MetricsParser p = MetricsParser::json({"accuracy", "loss"});
  p.feed(R"({"accuracy": "0.5", "loss": 1.25, "timestamp": "2026-11-21T10:00:00Z"})");
  p.feed(R"({"accuracy": 0.75})");
  p.feed("accuracy=0.99");       // not JSON: skipped
  p.feed(R"({"accuracy": "high"})");  // not a number: skipped
  p.feed(R"([1, 2])");
  EXPECT_EQ(p.values("accuracy"), (std::vector<double>{0.5, 0.75}));
  EXPECT_EQ(p.values("loss"), (std::vector<double>{1.25}));
  EXPECT_EQ(p.observe("accuracy", jobs::MetricStrategy::kMax), 0.75);
}
