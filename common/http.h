// A small HTTP/1.1 server and client on loopback-sized needs: one request per connection
// (Connection: close), a body only with Content-Length (at most max_body bytes), plain HTTP (no
// TLS). Our own rather than cpp-httplib for the reason metrics.h gives (OpenSSL's start-up cost in
// every ringmaster process); the sockets are common/socket.h's. Users: the Prometheus endpoints
// (metrics.h) and Kubeflow Trainer's progress API (KEP-2779), whose server the sweep driver runs
// for an OptimizationJob and whose client `ringmaster train` is.
//
//   auto server = HttpServer::start("127.0.0.1", 0, [](const HttpRequest& r) {
//     return r.path == "/ping" ? HttpResponse{200, "text/plain", "pong\n"} : HttpResponse{404, "text/plain", ""};
//   });
//   auto answer = http_request("GET", "http://127.0.0.1:" + std::to_string((*server)->port()) + "/ping", {}, "",
//                              Deadline::after(std::chrono::seconds(2)));
//
// The handler runs on the server's thread, one request at a time: it must take its own locks.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/deadline.h"
#include "common/status.h"

namespace ringmaster {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;
  std::string path;  // without the query
  HttpHeaders headers;
  std::string body;
  // A header's value (names compare without case); empty when absent.
  std::string header(const std::string& name) const;
};

struct HttpResponse {
  int code = 200;
  std::string content_type = "text/plain";
  std::string body;
};

class HttpServer {
 public:
  // Serves address:port (IPv4; port 0: a free one, see port()) from its own thread. A request whose
  // head exceeds 8 KiB or body exceeds max_body gets 413 without reaching the handler; a client
  // that sends or takes nothing for 2 s is dropped. HEAD is answered as GET, without the body.
  // Fails with kUnavailable when the address cannot be bound, kInvalidArgument when it is not one.
  static Result<std::unique_ptr<HttpServer>> start(const std::string& address, int port,
                                                   std::function<HttpResponse(const HttpRequest&)> handle,
                                                   std::size_t max_body = 1 << 20);
  ~HttpServer();  // stops serving and joins the thread
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  int port() const { return port_; }

 private:
  struct Impl;
  HttpServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

// One request to an http:// URL (host a literal, "localhost" or a resolvable name; port 80 by
// default). Content-Length is added for a body. Fails with kInvalidArgument for any other scheme
// (https: no TLS here) or a malformed URL, kUnavailable when the server cannot be reached or does
// not answer before the deadline. Any status code is a result, not a failure.
Result<HttpResponse> http_request(const std::string& method, const std::string& url, const HttpHeaders& headers,
                                  const std::string& body, Deadline deadline);

}  // namespace ringmaster
