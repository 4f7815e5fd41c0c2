#include "common/metrics.h"

#include <fmt/format.h>
#include <httplib.h>

#include <sys/socket.h>

#include <cmath>
#include <thread>

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

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address, int port,
                                                            std::function<std::string()> render) {
  auto impl = std::make_unique<Impl>();
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which would let a second server
  // share the port silently instead of being refused.
  impl->server.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  impl->server.Get("/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  int bound = port;
  if (port == 0) {
    bound = impl->server.bind_to_any_port(address);
    if (bound < 0) bound = 0;
  } else if (!impl->server.bind_to_port(address, port)) {
    bound = 0;
  }
  if (bound <= 0)
    return Status(StatusCode::kUnavailable,
                  fmt::format("metrics endpoint: cannot listen on {}:{} (in use, or not an address of this machine)",
                              address, port));
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl), bound));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl, int port) : impl_(std::move(impl)), port_(port) {}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace ringmaster
