// common/http.h: the server and client against each other, over real loopback sockets.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

#include "common/http.h"
#include "common/socket.h"

using namespace ringmaster;

namespace {

Deadline soon() { return Deadline::after(std::chrono::seconds(5)); }

std::unique_ptr<HttpServer> echo_server(std::size_t max_body = 1024) {
  auto server = HttpServer::start("127.0.0.1", 0, [](const HttpRequest& r) -> HttpResponse {
    if (r.path != "/echo") return {404, "text/plain", "no such path\n"};
    return {200, "application/json", r.method + " " + r.header("authorization") + " " + r.body};
  }, max_body);
  EXPECT_TRUE(server.is_ok()) << server.status().message();
  return std::move(*server);
}

}  // namespace

TEST(Http, AClientPostsABodyAndReadsTheAnswer) {
  auto server = echo_server();
  const std::string url = "http://127.0.0.1:" + std::to_string(server->port()) + "/echo?x=1";
  auto r = http_request("POST", url, {{"Authorization", "Bearer t0k"}}, R"({"a":1})", soon());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->code, 200);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->body, R"(POST Bearer t0k {"a":1})");
  auto missing = http_request("GET", "http://localhost:" + std::to_string(server->port()) + "/nope", {}, "", soon());
  ASSERT_TRUE(missing.is_ok());
  EXPECT_EQ(missing->code, 404);
  EXPECT_EQ(missing->body, "no such path\n");
  auto head = http_request("HEAD", url, {}, "", soon());
  ASSERT_TRUE(head.is_ok()) << head.status().message();
  EXPECT_EQ(head->code, 200);
}

TEST(Http, ABodyOverTheLimitIs413AndNeverReachesTheHandler) {
  auto server = echo_server(16);
  auto r = http_request("POST", "http://127.0.0.1:" + std::to_string(server->port()) + "/echo", {},
                        std::string(100, 'x'), soon());
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->code, 413);
}

TEST(Http, OnlyHttpUrlsAreSpokenAndAClosedPortIsUnavailable) {
  auto tls = http_request("POST", "https://trainer.kubeflow.svc:10443/x", {}, "", soon());
  ASSERT_FALSE(tls.is_ok());
  EXPECT_NE(tls.status().message().find("ringmaster speaks no TLS"), std::string::npos) << tls.status().message();
  int port = 0;
  {
    auto server = echo_server();
    port = server->port();
  }
  auto closed = http_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/echo", {}, "",
                             Deadline::after(std::chrono::milliseconds(300)));
  ASSERT_FALSE(closed.is_ok());
  EXPECT_EQ(closed.status().code(), StatusCode::kUnavailable);
}

TEST(Http, AClientThatAsksToContinueIsToldToGoOn) {
  // curl sends "Expect: 100-continue" before a larger body and waits for the go-ahead.
  auto server = echo_server();
  auto conn = connect_tcp({"127.0.0.1", server->port()}, soon());
  ASSERT_TRUE(conn.is_ok()) << conn.status().message();
  const std::string head =
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nAuthorization: a\r\n\r\n";
  ASSERT_TRUE(send_all(conn->get(), head.data(), head.size(), soon(), "server"));
  char go[25] = {};
  ASSERT_TRUE(recv_all(conn->get(), go, sizeof go, soon(), "server"));
  EXPECT_EQ(std::string(go, sizeof go), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(send_all(conn->get(), "hello", 5, soon(), "server"));
  std::string answer;
  char buf[512];
  for (ssize_t n; (n = ::recv(conn->get(), buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(answer.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(answer.substr(answer.size() - 12), "POST a hello");
}
