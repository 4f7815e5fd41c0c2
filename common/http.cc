#include "common/http.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/socket.h"
#include "common/strings.h"

namespace ringmaster {
namespace {

constexpr std::size_t kMaxHead = 8192;

const char* reason_of(int code) {
  switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

// Reads until `buffer` holds the head (through the blank line) and then `body_bytes(head)` more,
// each wait at most until `deadline`. False when the peer stops early or the head is too long.
bool read_message(int fd, std::string& buffer, std::size_t& head_end, Deadline deadline,
                  const std::function<std::size_t(const std::string&)>& body_bytes, std::size_t max_body,
                  bool until_close, bool& too_large) {
  char chunk[4096];
  head_end = std::string::npos;
  std::size_t want = 0;
  for (;;) {
    if (head_end == std::string::npos) {
      const std::size_t at = buffer.find("\r\n\r\n");
      if (at != std::string::npos) {
        head_end = at + 4;
        want = body_bytes(buffer.substr(0, head_end));
        if (want > max_body) {
          too_large = true;
          return false;
        }
      } else if (buffer.size() > kMaxHead) {
        too_large = true;
        return false;
      }
    }
    if (head_end != std::string::npos && !until_close && buffer.size() >= head_end + want) return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, deadline.remaining_ms()) <= 0) return false;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return until_close && head_end != std::string::npos;
    buffer.append(chunk, static_cast<std::size_t>(n));
    if (until_close && buffer.size() > kMaxHead + max_body) {
      too_large = true;
      return false;
    }
  }
}

// The header lines after the first line of a head.
HttpHeaders parse_headers(const std::string& head) {
  HttpHeaders out;
  std::size_t at = head.find("\r\n");
  while (at != std::string::npos && at + 2 < head.size()) {
    const std::size_t end = head.find("\r\n", at + 2);
    if (end == std::string::npos || end == at + 2) break;
    const std::string line = head.substr(at + 2, end - at - 2);
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) out.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    at = end;
  }
  return out;
}

std::string find_header(const HttpHeaders& headers, const std::string& name) {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return "";
}

}  // namespace

std::string HttpRequest::header(const std::string& name) const { return find_header(headers, name); }

struct HttpServer::Impl {
  UniqueFd listener;
  int wake[2] = {-1, -1};  // written to stop the thread
  std::function<HttpResponse(const HttpRequest&)> handle;
  std::size_t max_body = 0;
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

  void answer(int conn) {
    const Deadline deadline = Deadline::after(std::chrono::seconds(2));
    std::string buffer;
    std::size_t head_end = 0;
    bool too_large = false;
    HttpResponse response;
    HttpRequest request;
    // The body's length, once the head is in; a client that asks first (Expect: 100-continue, as
    // curl does for larger bodies) is told to go on.
    std::size_t body_length = 0;
    auto body_bytes = [&](const std::string& head) {
      request.headers = parse_headers(head);
      body_length = parse_int<std::size_t>(request.header("Content-Length")).value_or(0);
      if (body_length > 0 && body_length <= max_body && iequals(request.header("Expect"), "100-continue")) {
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)send_all(conn, kContinue, sizeof kContinue - 1, deadline, "an HTTP client");
      }
      return body_length;
    };
    if (!read_message(conn, buffer, head_end, deadline, body_bytes, max_body, false, too_large)) {
      if (!too_large) return;
      response = {413, "text/plain", "the request is too large\n"};
    } else {
      const std::string head = buffer.substr(0, head_end);
      const std::size_t sp1 = head.find(' '), sp2 = sp1 == std::string::npos ? sp1 : head.find(' ', sp1 + 1);
      if (sp2 == std::string::npos) return;
      request.method = head.substr(0, sp1);
      request.path = head.substr(sp1 + 1, sp2 - sp1 - 1);
      request.path = request.path.substr(0, request.path.find('?'));
      request.body = buffer.substr(head_end, body_length);
      HttpRequest asked = request;
      if (asked.method == "HEAD") asked.method = "GET";
      response = handle(asked);
    }
    std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                  response.code, reason_of(response.code), response.content_type, response.body.size());
    if (request.method != "HEAD") out += response.body;
    (void)send_all(conn, out.data(), out.size(), Deadline::after(std::chrono::seconds(2)), "an HTTP client");
  }
};

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& address, int port,
                                                      std::function<HttpResponse(const HttpRequest&)> handle,
                                                      std::size_t max_body) {
  auto impl = std::make_unique<Impl>();
  impl->handle = std::move(handle);
  impl->max_body = max_body;
  if (port < 0 || port > 65535) return invalid_argument(fmt::format("expected a port in 0-65535, found {}", port));
  auto listener = listen_tcp(address, port, 16);
  if (!listener) return Status(StatusCode::kUnavailable, fmt::format("cannot listen on {}:{}: {}", address, port, listener.status().message()));
  impl->listener = std::move(*listener);
  const int bound = local_port(impl->listener.get());
  if (::pipe2(impl->wake, O_CLOEXEC) != 0) return internal_error(std::string("pipe: ") + std::strerror(errno));
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->serve(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), bound));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl, int port) : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() {
  const char byte = 1;
  [[maybe_unused]] const auto n = ::write(impl_->wake[1], &byte, 1);
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<HttpResponse> http_request(const std::string& method, const std::string& url, const HttpHeaders& headers,
                                  const std::string& body, Deadline deadline) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0)
    return invalid_argument(fmt::format("expected an http:// URL, found {}{}", quote(url),
                                        url.rfind("https://", 0) == 0 ? " (https: ringmaster speaks no TLS)" : ""));
  const std::size_t slash = url.find('/', scheme.size());
  const std::string authority = url.substr(scheme.size(), slash == std::string::npos ? std::string::npos : slash - scheme.size());
  const std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  Endpoint to;
  const std::size_t colon = authority.rfind(':');
  to.host = authority.substr(0, colon);
  to.port = 80;
  if (colon != std::string::npos) {
    const auto port = parse_int<int>(authority.substr(colon + 1));
    if (!port || *port < 1 || *port > 65535) return invalid_argument(fmt::format("expected a port in {}, found none usable", quote(url)));
    to.port = *port;
  }
  if (to.host.empty()) return invalid_argument(fmt::format("expected a host in {}, found none", quote(url)));
  auto conn = connect_tcp(to, deadline);
  if (!conn) return Status(StatusCode::kUnavailable, conn.status().message());
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", method, path, authority);
  for (const auto& [k, v] : headers) out += fmt::format("{}: {}\r\n", k, v);
  if (!body.empty() || method == "POST" || method == "PUT") out += fmt::format("Content-Length: {}\r\n", body.size());
  out += "\r\n" + body;
  if (Status s = send_all(conn->get(), out.data(), out.size(), deadline, url); !s) return Status(StatusCode::kUnavailable, s.message());
  std::string buffer;
  std::size_t head_end = 0;
  bool too_large = false;
  // The answer ends at its Content-Length, or when the server closes.
  std::size_t length = 0;
  bool has_length = false;
  HttpHeaders got;
  auto body_bytes = [&](const std::string& head) {
    got = parse_headers(head);
    const std::string v = find_header(got, "Content-Length");
    has_length = !v.empty();
    length = method == "HEAD" ? 0 : parse_int<std::size_t>(v).value_or(0);  // a HEAD answer has no body
    return length;
  };
  if (!read_message(conn->get(), buffer, head_end, deadline, body_bytes, 16u << 20, false, too_large) && !too_large) {
    if (head_end == std::string::npos || has_length)
      return Status(StatusCode::kUnavailable, fmt::format("{}: no complete answer before the deadline", url));
  }
  if (too_large) return Status(StatusCode::kUnavailable, fmt::format("{}: the answer is larger than 16 MiB", url));
  HttpResponse response;
  const std::size_t sp = buffer.find(' ');
  response.code = sp == std::string::npos ? 0 : parse_int<int>(buffer.substr(sp + 1, 3)).value_or(0);
  response.content_type = find_header(got, "Content-Type");
  response.body = buffer.substr(head_end, has_length ? length : std::string::npos);
  return response;
}

}  // namespace ringmaster
