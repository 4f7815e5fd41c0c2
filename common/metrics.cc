#include "common/metrics.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <thread>

#include "common/socket.h"

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

namespace {

// Reads the request head (up to the blank line, at most 8 KiB), waiting at most 2 s for each part.
std::string read_request_head(int fd) {
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  return head;
}

}  // namespace

struct MetricsServer::Impl {
  UniqueFd listener;
  int wake[2] = {-1, -1};  // written to stop the thread
  std::function<std::string()> render;
  std::thread thread;

  ~Impl() {
    for (int fd : wake)
      if (fd >= 0) ::close(fd);
  }

  void serve() {
    for (;;) {
      pollfd fds[2] = {{listener.get(), POLLIN, 0}, {wake[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents) return;
      UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (conn.valid()) answer(conn.get());
    }
  }

  // HTTP/1.1 with Connection: close; GET or HEAD of /metrics, anything else refused. A client that
  // does not take the answer within 2 s is dropped, so none can hold the server (or its stop).
  void answer(int conn) {
    const std::string head = read_request_head(conn);
    const std::size_t sp1 = head.find(' '), sp2 = sp1 == std::string::npos ? sp1 : head.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) return;
    const std::string method = head.substr(0, sp1);
    std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    int code = 200;
    std::string reason = "OK", body, type = "text/plain; version=0.0.4; charset=utf-8";
    if (method != "GET" && method != "HEAD") {
      code = 405, reason = "Method Not Allowed", body = "only GET /metrics is served\n", type = "text/plain";
    } else if (path != "/metrics") {
      code = 404, reason = "Not Found", body = "metrics are at /metrics\n", type = "text/plain";
    } else {
      body = render();
    }
    std::string response = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", code, reason, type,
        body.size());
    if (method != "HEAD") response += body;
    (void)ringmaster::send_all(conn, response.data(), response.size(), Deadline::after(std::chrono::seconds(2)),
                                "a metrics client");
  }
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address, int port,
                                                            std::function<std::string()> render) {
  in_addr parsed{};
  if (port < 0 || port > 65535 || ::inet_pton(AF_INET, address.c_str(), &parsed) != 1)
    return invalid_argument(fmt::format("metrics endpoint: expected an IPv4 address and a port in 0-65535, found {}:{}",
                                        address, port));
  auto impl = std::make_unique<Impl>();
  impl->render = std::move(render);
  auto listener = ringmaster::listen_tcp(address, port, 16);
  if (!listener)
    return Status(StatusCode::kUnavailable,
                  fmt::format("metrics endpoint: cannot listen on {}:{}: {}", address, port, listener.status().message()));
  impl->listener = std::move(*listener);
  const int bound = ringmaster::local_port(impl->listener.get());
  if (::pipe2(impl->wake, O_CLOEXEC) != 0) return internal_error(std::string("pipe: ") + std::strerror(errno));
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->serve(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl), bound));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl, int port) : impl_(std::move(impl)), port_(port) {}

MetricsServer::~MetricsServer() {
  const char byte = 1;
  [[maybe_unused]] const auto n = ::write(impl_->wake[1], &byte, 1);
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace ringmaster
