// The Prometheus text format and the HTTP endpoint serving it.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <limits>

#include "common/metrics.h"

using namespace ringmaster;

TEST(PrometheusText, FamiliesSamplesAndEscaping) {
  PrometheusText t;
  t.family("rm_x_total", "counter", "Things counted");
  t.sample("rm_x_total", {{"job", "a\"b\\c\nd"}, {"k", "v"}}, 3);
  t.sample("rm_x_total", {}, 0.25);
  t.sample("rm_nan", {}, std::nan(""));
  t.sample("rm_inf", {}, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(t.str(),
            "# HELP rm_x_total Things counted\n# TYPE rm_x_total counter\n"
            "rm_x_total{job=\"a\\\"b\\\\c\\nd\",k=\"v\"} 3\n"
            "rm_x_total 0.25\n"
            "rm_nan NaN\n"
            "rm_inf -Inf\n");
}

TEST(MetricsServer, ServesTheRenderedTextPerScrapeAndRefusesABusyPort) {
  std::atomic<int> scrapes{0};
  auto server = MetricsServer::start("127.0.0.1", 0, [&] {
    PrometheusText t;
    t.sample("rm_scrapes", {}, ++scrapes);
    return t.str();
  });
  ASSERT_TRUE(server.is_ok()) << server.status().message();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  httplib::Client client("127.0.0.1", port);
  for (int i = 1; i <= 2; ++i) {
    auto res = client.Get("/metrics");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "rm_scrapes " + std::to_string(i) + "\n");
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  }
  auto other = client.Get("/other");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  auto busy = MetricsServer::start("127.0.0.1", port, [] { return std::string(); });
  ASSERT_FALSE(busy.is_ok());
  EXPECT_NE(busy.status().message().find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos);
}
