// Issue 21 item 5: Katib's metricsFormat is Go regexp syntax (RE2's), not ECMAScript: Katib's own
// File-collector filter, whose braces are literals, was refused by std::regex.
#include <gtest/gtest.h>

#include "jobs/katib_regex.h"

using ringmaster::jobs::MetricsRegex;

namespace {
// katib examples/v1beta1/metrics-collector/file-metrics-collector.yaml and the collector's tests.
const char* kKatibFileFilter = R"({metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)})";
}  // namespace

TEST(MetricsRegex, KatibsFileCollectorFilterWithLiteralBraces) {
  auto re = MetricsRegex::compile(kKatibFileFilter);
  ASSERT_TRUE(re) << re.status().message();
  // Lines from katib's file-metricscollector_test.go.
  auto found = re->find_all("2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: -0.4759}");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].first, "accuracy");
  EXPECT_EQ(found[0].second, "-0.4759");
  found = re->find_all("{metricName: loss, metricValue: 0.8671} {metricName: accuracy, metricValue: 100}");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[1].first, "accuracy");
  EXPECT_EQ(found[1].second, "100");
}

TEST(MetricsRegex, KatibsDefaultFilterFindsEveryPair) {
  auto re = MetricsRegex::compile(R"(([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?))");
  ASSERT_TRUE(re) << re.status().message();
  auto found = re->find_all("epoch=3 step=1407 loss=0.3016 accuracy=8.66e-1");
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[2].first, "loss");
  EXPECT_EQ(found[3].second, "8.66e-1");
}

TEST(MetricsRegex, ErrorsReadAsGosWithThePosition) {
  auto re = MetricsRegex::compile("loss=(\\d+");
  ASSERT_FALSE(re);
  EXPECT_EQ(re.status().message(), "error parsing regexp: missing closing ): `loss=(\\d+`");  // Go's exact words
  re = MetricsRegex::compile("a**(b)(c)");
  ASSERT_FALSE(re);
  EXPECT_EQ(re.status().message(), "error parsing regexp: invalid nested repetition operator: `**` (at character 2)");
  re = MetricsRegex::compile("(x)=(?<=y)");  // lookbehind: Perl, not Go
  ASSERT_FALSE(re);
  EXPECT_NE(re.status().message().find("invalid or unsupported Perl syntax"), std::string::npos) << re.status().message();
  re = MetricsRegex::compile("only (one) group");
  ASSERT_FALSE(re);
  EXPECT_EQ(re.status().message(), "it has 1 capture group(s), where two (name and value) are needed");
}
