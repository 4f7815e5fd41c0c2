// The Prometheus text format and the HTTP endpoint serving it.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <limits>

#include "common/metrics.h"

using namespace ringmaster;

namespace {

// One HTTP request on a fresh connection; the whole response (the server closes it).
std::string http(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

}  // namespace

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
  for (int i = 1; i <= 2; ++i) {
    const std::string body = "rm_scrapes " + std::to_string(i) + "\n";
    EXPECT_EQ(http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  }
  EXPECT_EQ(http(port, "GET /other HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_EQ(http(port, "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0), 0u);
  EXPECT_EQ(http(port, "garbage"), "");  // no request line: the connection is closed unanswered
  EXPECT_EQ(scrapes.load(), 2);
  auto busy = MetricsServer::start("127.0.0.1", port, [] { return std::string(); });
  ASSERT_FALSE(busy.is_ok());
  EXPECT_NE(busy.status().message().find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos);
  auto bad = MetricsServer::start("localhost:x", 0, [] { return std::string(); });
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}
