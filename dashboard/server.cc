#include "dashboard/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "common/socket.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "dashboard/state.h"
#include "dashboard/sweeps.h"

namespace ringmaster::dashboard {
namespace {

constexpr std::size_t kMaxLogBytes = 1 << 20;
constexpr std::uintmax_t kStreamBacklog = 16 * 1024;  // what a log stream starts with
constexpr std::size_t kStreamChunk = 256 * 1024;      // read per step of a stream

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
    // Each log stream holds a thread while its page is open.
    server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    routes();
  }
  ~HttpServer() override {
    stopping_ = true;  // log streams end
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
        const auto asked = parse_int<std::size_t>(req.get_param_value("bytes"));
        if (!asked)
          return fail(res, invalid_argument("bytes: expected a count of bytes, found \"" + req.get_param_value("bytes") + "\""));
        bytes = std::min(*asked, kMaxLogBytes);
      }
      auto j = log_tail(o_.jobs_root, req.matches[1], req.matches[2], bytes);
      j ? reply(res, 200, *j) : fail(res, j.status());
    });
    server_.Get(R"(/api/jobs/([^/]+)/logs/([^/]+)/stream)", [this](const httplib::Request& req, httplib::Response& res) {
      auto path = log_path(o_.jobs_root, req.matches[1], req.matches[2]);
      if (!path) return fail(res, path.status());
      std::error_code ec;
      const auto size = std::filesystem::file_size(*path, ec);
      auto offset = std::make_shared<std::uintmax_t>(ec || size < kStreamBacklog ? 0 : size - kStreamBacklog);
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider("text/event-stream", [this, file = *path, offset](std::size_t, httplib::DataSink& sink) {
        return follow(file, *offset, sink);
      });
    });
    server_.Get(R"(/api/jobs/([^/]+)/metrics)", [this](const httplib::Request& req, httplib::Response& res) {
      auto j = job_metrics(o_.jobs_root, req.matches[1]);
      j ? reply(res, 200, *j) : fail(res, j.status());
    });
    server_.Get("/api/sweeps", [this](const httplib::Request&, httplib::Response& res) {
      reply(res, 200, list_sweeps(o_.experiments_root));
    });
    server_.Get(R"(/api/sweeps/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      auto j = sweep_detail(o_.experiments_root, req.matches[1]);
      j ? reply(res, 200, *j) : fail(res, j.status());
    });
    server_.Post(R"(/api/jobs/([^/]+)/(suspend|resume))", [this](const httplib::Request& req, httplib::Response& res) {
      const bool suspend = req.matches[2] == "suspend";
      Status s = set_suspended(o_.jobs_root, req.matches[1], suspend);
      s ? reply(res, 200, {{"job", std::string(req.matches[1])}, {"suspended", suspend}}) : fail(res, s);
    });
    server_.Get(R"(/api/jobs/([^/]+)/timeline/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      auto path = timeline_path(o_.jobs_root, req.matches[1], req.matches[2]);
      if (!path) return fail(res, path.status());
      serve_file(*path, fmt::format("{}-{}-timeline.json", std::string(req.matches[1]), std::string(req.matches[2])), res);
    });
    server_.Post(R"(/api/jobs/([^/]+)/delete)", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string job = req.matches[1];
      if (auto j = job_detail(o_.jobs_root, job); !j) return fail(res, j.status());
      // `ringmaster delete`'s rule, as it is: stop the launcher, the cluster's objects, the directory.
      CommandSpec spec;
      spec.argv = {o_.ringmaster, "delete", job, "--jobs-root", o_.jobs_root};
      auto r = run_command(spec);
      if (!r) return fail(res, r.status());
      if (!r->ok()) {
        std::string err = r->err;
        while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
        return reply(res, 500, {{"error", fmt::format("ringmaster delete {} (exit {}): {}", job, r->exit_code, err)}});
      }
      reply(res, 200, {{"job", job}, {"deleted", true}});
    });
    server_.Post(R"(/api/sweeps/([^/]+)/stop)", [this](const httplib::Request& req, httplib::Response& res) {
      Status s = stop_sweep(o_.experiments_root, req.matches[1]);
      s ? reply(res, 200, {{"experiment", std::string(req.matches[1])}, {"stopping", true}}) : fail(res, s);
    });
    const std::filesystem::path web(o_.web_dir);
    if (!o_.web_dir.empty() && std::filesystem::exists(web / "uPlot.iife.min.js") &&
        std::filesystem::exists(web / "echarts.min.js")) {
      server_.set_mount_point("/", o_.web_dir);
    } else {
      server_.Get("/", [this](const httplib::Request&, httplib::Response& res) {
        reply(res, 503, {{"error", fmt::format("the dashboard's pages are not installed (expected them, uPlot and ECharts in {}): "
                                               "run scripts/install-deps, then build again",
                                               o_.web_dir.empty() ? "a web directory" : o_.web_dir)}});
      });
    }
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

  // One step of a log stream: the complete lines written since `offset` as events, then a pause.
  // false ends the stream (the client went away, or the server stops).
  bool follow(const std::string& file, std::uintmax_t& offset, httplib::DataSink& sink) {
    if (stopping_ || !sink.is_writable()) return false;
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    std::string chunk(kStreamChunk, '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<std::size_t>(in.gcount()));
    const auto end = chunk.rfind('\n');
    if (end == std::string::npos) {  // nothing whole yet: a comment keeps the connection checked
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return sink.write(": idle\n\n", 8);
    }
    std::string events;
    std::size_t start = 0;
    for (std::size_t nl; start <= end && (nl = chunk.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = chunk.substr(start, nl - start);
      std::erase(line, '\r');  // a carriage return would end the event's line early
      events += "data: " + line + "\n\n";
    }
    offset += end + 1;
    return sink.write(events.data(), events.size());
  }

  // A file of any size, read as it is sent, offered for download as `name`.
  static void serve_file(const std::string& path, const std::string& name, httplib::Response& res) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return fail(res, not_found(fmt::format("{}: {}", path, ec.message())));
    auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
    res.set_header("Content-Disposition", fmt::format("attachment; filename=\"{}\"", name));
    res.set_content_provider(static_cast<std::size_t>(size), "application/json",
                             [in](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               std::string chunk(std::min<std::size_t>(length, kStreamChunk), '\0');
                               in->seekg(static_cast<std::streamoff>(offset));
                               in->read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
                               const auto n = static_cast<std::size_t>(in->gcount());
                               return n > 0 && sink.write(chunk.data(), n);
                             });
  }

  ServerOptions o_;
  std::atomic<bool> stopping_{false};
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
