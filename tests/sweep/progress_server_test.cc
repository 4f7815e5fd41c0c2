// The sweep driver's Trainer progress API (sweep/progress_server.h) against `ringmaster train`'s
// client body (worker/trainer_status.h) and the answers Trainer's status server gives.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/files.h"
#include "common/http.h"
#include "sweep/progress_server.h"
#include "worker/trainer_status.h"

using namespace ringmaster;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("progress-" + random_hex(6));
  std::unique_ptr<sweep::ProgressServer> server;
  sweep::ProgressServer::Trial trial;
  std::string token;

  Fixture() {
    std::filesystem::create_directories(dir);
    auto s = sweep::ProgressServer::start();
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    server = std::move(*s);
    auto t = server->add("default", "tune-trial-001", (dir / "token").string(), (dir / "progress.jsonl").string(),
                         (dir / "status.json").string());
    EXPECT_TRUE(t.is_ok()) << t.status().message();
    trial = *t;
    token = slurp(trial.token_file);
    while (!token.empty() && token.back() == '\n') token.pop_back();
  }
  ~Fixture() { std::filesystem::remove_all(dir); }

  HttpResponse post(const std::string& body, const std::string& bearer, const std::string& url = "") {
    auto r = http_request("POST", url.empty() ? trial.url : url, {{"Authorization", "Bearer " + bearer}}, body,
                          Deadline::after(std::chrono::seconds(5)));
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return r.is_ok() ? *r : HttpResponse{};
  }
};

}  // namespace

TEST(ProgressServer, AcceptsWhatRingmasterTrainSendsAndKeepsEachUpdate) {
  Fixture f;
  EXPECT_EQ(f.trial.url.substr(f.trial.url.find("/apis/")),
            "/apis/trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs/tune-trial-001/status");
  EXPECT_EQ(std::filesystem::status(f.trial.token_file).permissions() & std::filesystem::perms::group_all,
            std::filesystem::perms::none);
  const auto now = std::chrono::system_clock::now();
  const std::string body = worker::trainer_status_body(45, 120, {{"accuracy", 0.8125}, {"loss", 0.5}}, now);
  const HttpResponse ok = f.post(body, f.token);
  EXPECT_EQ(ok.code, 200) << ok.body;
  EXPECT_EQ(nlohmann::json::parse(ok.body), nlohmann::json::parse(body));  // the parsed payload, as Trainer answers
  EXPECT_EQ(f.post(worker::trainer_status_body(100, 0, {{"accuracy", 0.85}}, now), f.token).code, 200);
  EXPECT_EQ(slurp((f.dir / "progress.jsonl").string()), "{\"accuracy\":0.8125,\"loss\":0.5}\n{\"accuracy\":0.85}\n");
  const auto status = nlohmann::json::parse(slurp((f.dir / "status.json").string()));
  EXPECT_EQ(status["progressPercentage"], 100);
  EXPECT_EQ(status["metrics"][0]["value"], "0.85");
  EXPECT_EQ(status["lastUpdatedTime"].get<std::string>().size(), 20u);  // 2026-12-01T04:52:12Z
}

TEST(ProgressServer, RefusesAsTrainersStatusServerDoes) {
  Fixture f;
  const std::string good = worker::trainer_status_body(10, 5, {{"accuracy", 0.5}}, std::chrono::system_clock::now());
  HttpResponse r = f.post(good, "not-the-token");
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(nlohmann::json::parse(r.body)["reason"], "Forbidden");
  EXPECT_EQ(nlohmann::json::parse(r.body)["kind"], "Status");
  std::string other = f.trial.url;
  other.replace(other.find("tune-trial-001"), 14, "tune-trial-002");
  EXPECT_EQ(f.post(good, f.token, other).code, 403);  // a token is for its own TrainJob only
  r = f.post(R"({"trainerStatus": {"progressPercentage": 101, "lastUpdatedTime": "2026-12-01T00:00:00Z"}})", f.token);
  EXPECT_EQ(r.code, 422);
  EXPECT_NE(nlohmann::json::parse(r.body)["message"].get<std::string>().find("progressPercentage"), std::string::npos);
  r = f.post(R"({"trainerStatus": {"metrics": []}})", f.token);
  EXPECT_EQ(r.code, 422);
  EXPECT_EQ(nlohmann::json::parse(r.body)["message"], "lastUpdatedTime is required when trainerStatus is present");
  r = f.post(R"({"trainerStatus": {"metrics": [{"name": "", "value": "1"}], "lastUpdatedTime": "x"}})", f.token);
  EXPECT_EQ(r.code, 422);
  EXPECT_EQ(f.post("not json", f.token).code, 422);
  EXPECT_EQ(f.post("{}", f.token).code, 200);  // no trainerStatus: nothing to apply
  f.server->remove("default", "tune-trial-001");
  EXPECT_EQ(f.post(good, f.token).code, 403);  // a finished trial's updates are refused
  std::string elsewhere = f.trial.url;
  elsewhere.replace(elsewhere.find("/status"), 7, "/log");
  EXPECT_EQ(f.post(good, f.token, elsewhere).code, 404);
  EXPECT_FALSE(std::filesystem::exists(f.dir / "progress.jsonl"));  // none of these reached the trial
}
