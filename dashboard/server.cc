#include "dashboard/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "common/files.h"
#include "common/socket.h"
#include "common/strings.h"
#include "dashboard/state.h"

namespace ringmaster::dashboard {
namespace {

constexpr std::size_t kMaxLogBytes = 1 << 20;

void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void fail(httplib::Response& res, const Status& s) {
  const int status = s.code() == StatusCode::kNotFound             ? 404
                     : s.code() == StatusCode::kFailedPrecondition ? 409
                     : s.code() == StatusCode::kInvalidArgument    ? 400
                                                                   : 500;
  reply(res, status, {{"error", s.message()}});
}

// The token a request carries: ?token=, Authorization: Bearer, or the ringmaster_token cookie.
std::string token_of(const httplib::Request& req) {
  if (req.has_param("token")) return req.get_param_value("token");
  const std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0) return auth.substr(7);
  const std::string cookies = req.get_header_value("Cookie");
  for (std::size_t at = cookies.find("ringmaster_token="); at != std::string::npos;
       at = cookies.find("ringmaster_token=", at + 1)) {
    if (at > 0 && cookies[at - 1] != ' ' && cookies[at - 1] != ';') continue;
    const std::size_t start = at + 17, end = cookies.find(';', start);
    return cookies.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return "";
}

class HttpServer final : public Server {
 public:
  explicit HttpServer(ServerOptions o) : o_(std::move(o)) {
    if (o_.token.empty()) o_.token = random_hex(12);
    routes();
  }
  ~HttpServer() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  Status listen() {
    port_ = o_.port == 0 ? server_.bind_to_any_port(o_.address) : (server_.bind_to_port(o_.address, o_.port) ? o_.port : -1);
    if (port_ <= 0)
      return Status(StatusCode::kUnavailable,
                    fmt::format("dashboard: cannot listen on {}:{} (in use? choose another --port)", o_.address, o_.port));
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    return Status::ok();
  }
  int port() const override { return port_; }
  const std::string& token() const override { return o_.token; }
  std::string url() const override {
    const bool v6 = o_.address.find(':') != std::string::npos;
    return fmt::format("http://{}{}{}:{}/?token={}", v6 ? "[" : "", o_.address, v6 ? "]" : "", port_, o_.token);
  }

 private:
  // Who may do what (server.h): checked before any route.
  httplib::Server::HandlerResponse admit(const httplib::Request& req, httplib::Response& res) {
    const bool post = req.method == "POST";
    const bool has_token = same_secret(token_of(req), o_.token);
    if ((post || !is_loopback(o_.address)) && !has_token) {
      reply(res, 401, {{"error", "expected the dashboard's token (the ?token= of the URL it printed), found "
                                 + std::string(token_of(req).empty() ? "none" : "another")}});
      return httplib::Server::HandlerResponse::Handled;
    }
    if (post && req.has_header("Origin")) {
      const std::string origin = req.get_header_value("Origin"), own = "http://" + req.get_header_value("Host");
      if (origin != own) {
        reply(res, 403, {{"error", fmt::format("refused: a request from {} to {}", origin, own)}});
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (has_token && req.has_param("token"))  // the printed URL: remember the token for the page's requests
      res.set_header("Set-Cookie", "ringmaster_token=" + o_.token + "; HttpOnly; SameSite=Strict; Path=/");
    return httplib::Server::HandlerResponse::Unhandled;
  }

  void routes() {
    server_.set_pre_routing_handler([this](const auto& req, auto& res) { return admit(req, res); });
    server_.Get("/api/jobs", [this](const httplib::Request&, httplib::Response& res) {
      reply(res, 200, list_jobs(o_.jobs_root));
    });
    server_.Get(R"(/api/jobs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      auto j = job_detail(o_.jobs_root, req.matches[1]);
      j ? reply(res, 200, *j) : fail(res, j.status());
    });
    server_.Get(R"(/api/jobs/([^/]+)/logs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::size_t bytes = 64 * 1024;
      if (req.has_param("bytes")) {
        try {
          bytes = std::min<std::size_t>(std::stoul(req.get_param_value("bytes")), kMaxLogBytes);
        } catch (const std::exception&) {
          return fail(res, invalid_argument("bytes: expected a count of bytes, found \"" + req.get_param_value("bytes") + "\""));
        }
      }
      auto j = log_tail(o_.jobs_root, req.matches[1], req.matches[2], bytes);
      j ? reply(res, 200, *j) : fail(res, j.status());
    });
    server_.Post(R"(/api/jobs/([^/]+)/(suspend|resume))", [this](const httplib::Request& req, httplib::Response& res) {
      const bool suspend = req.matches[2] == "suspend";
      Status s = set_suspended(o_.jobs_root, req.matches[1], suspend);
      s ? reply(res, 200, {{"job", std::string(req.matches[1])}, {"suspended", suspend}}) : fail(res, s);
    });
    server_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (res.body.empty()) reply(res, res.status, {{"error", fmt::format("{} {}: no such page", req.method, req.path)}});
    });
    server_.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr e) {
      std::string what = "unknown";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what = x.what();
      } catch (...) {
      }
      reply(res, 500, {{"error", fmt::format("{} {}: internal error: {}", req.method, req.path, what)}});
    });
  }

  ServerOptions o_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::start(ServerOptions options) {
  auto server = std::make_unique<HttpServer>(std::move(options));
  if (Status s = server->listen(); !s) return s;
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace ringmaster::dashboard
