// Prometheus metrics over HTTP: the text exposition format (version 0.0.4) and a small server that
// answers `GET /metrics` (on common/http.h's server, one request per connection, on its own
// thread). Our own rather than cpp-httplib: that library brings OpenSSL, whose initialisation
// alone added 2 ms to the start of every ringmaster process (launcher and replicas), and a scrape
// endpoint needs one route. The launcher (`ringmaster run --metrics-port`)
// and the worker (`ringmaster train --metrics-port`) each render their own state per scrape:
//
//   auto server = MetricsServer::start("127.0.0.1", 9090, [&] {
//     PrometheusText t;
//     t.family("ringmaster_job_restarts_total", "counter", "Replica restarts of the job");
//     t.sample("ringmaster_job_restarts_total", {{"job", name}}, restarts);
//     return t.str();
//   });
//
// render() runs on the server's thread, once per scrape: it must take its own locks.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http.h"
#include "common/status.h"

namespace ringmaster {

class PrometheusText {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  // The # HELP and # TYPE lines of a metric family (type: counter, gauge, untyped); its samples follow.
  PrometheusText& family(std::string_view name, std::string_view type, std::string_view help);
  // One sample line; label values are escaped, NaN and infinities written as Prometheus spells them.
  PrometheusText& sample(std::string_view name, const Labels& labels, double value);
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

class MetricsServer {
 public:
  // Serves GET /metrics on address:port (IPv4; port 0: a free one, see port()) from its own thread.
  // Fails with kUnavailable when the address cannot be bound, kInvalidArgument when it is not one.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& address, int port,
                                                      std::function<std::string()> render);
  ~MetricsServer();  // stops serving and joins the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<HttpServer> server, int port);
  std::unique_ptr<HttpServer> server_;
  int port_;
};

}  // namespace ringmaster
