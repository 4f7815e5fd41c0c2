#include "common/metrics.h"

#include <fmt/format.h>

#include <arpa/inet.h>

#include <cmath>

#include "common/http.h"

namespace ringmaster {

PrometheusText& PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  return *this;
}

PrometheusText& PrometheusText::sample(std::string_view name, const Labels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i) text_ += ',';
      text_ += labels[i].first;
      text_ += "=\"";
      for (char c : labels[i].second) {
        if (c == '\\') text_ += "\\\\";
        else if (c == '"') text_ += "\\\"";
        else if (c == '\n') text_ += "\\n";
        else text_ += c;
      }
      text_ += '"';
    }
    text_ += '}';
  }
  if (std::isnan(value)) text_ += " NaN\n";
  else if (std::isinf(value)) text_ += value > 0 ? " +Inf\n" : " -Inf\n";
  else text_ += fmt::format(" {}\n", value);
  return *this;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address, int port,
                                                            std::function<std::string()> render) {
  in_addr parsed{};
  if (port < 0 || port > 65535 || ::inet_pton(AF_INET, address.c_str(), &parsed) != 1)
    return invalid_argument(fmt::format("metrics endpoint: expected an IPv4 address and a port in 0-65535, found {}:{}",
                                        address, port));
  // GET or HEAD of /metrics; anything else refused.
  auto server = HttpServer::start(address, port, [render = std::move(render)](const HttpRequest& r) -> HttpResponse {
    if (r.method != "GET") return {405, "text/plain", "only GET /metrics is served\n"};
    if (r.path != "/metrics") return {404, "text/plain", "metrics are at /metrics\n"};
    return {200, "text/plain; version=0.0.4; charset=utf-8", render()};
  }, 0);
  if (!server)
    return Status(server.status().code(), fmt::format("metrics endpoint: {}", server.status().message()));
  const int bound = (*server)->port();
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(*server), bound));
}

MetricsServer::MetricsServer(std::unique_ptr<HttpServer> server, int port) : server_(std::move(server)), port_(port) {}

MetricsServer::~MetricsServer() = default;

}  // namespace ringmaster
