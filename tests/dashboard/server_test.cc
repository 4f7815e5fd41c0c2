// The dashboard's JSON API (dashboard/server.h) over a jobs root the test writes as `ringmaster
// run` does, read by a real HTTP client: the shapes, 404s, a status.json replaced while it is
// read, the token and the Origin check of the actions.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "dashboard/server.h"

using namespace ringmaster;
namespace fs = std::filesystem;

namespace {

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("rm_dashboard_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    dashboard::ServerOptions o;
    o.port = 0;
    o.jobs_root = root_.string();
    o.experiments_root = (root_ / "experiments").string();  // not a job: it has no status.json
    o.token = "secret-token";
    o.ringmaster = RINGMASTER_BINARY;
    auto s = dashboard::Server::start(o);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    server_ = std::move(*s);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(root_);
  }
  // A job directory as `ringmaster run` leaves it: status.json, events.log, a replica's log.
  void write_job(const std::string& name, const std::string& phase, int restarts = 0) {
    const fs::path dir = root_ / name;
    fs::create_directories(dir / "logs");
    const std::string log = (dir / "logs" / (name + "-worker-0-0.log")).string();
    ASSERT_TRUE(write_file_atomic(log, "epoch=1 loss=0.5\nepoch=2 loss=0.4\n"));
    nlohmann::json s = {{"job", name},
                        {"kind", "PyTorchJob"},
                        {"phase", phase},
                        {"conditions", {"Created", "Running"}},
                        {"elapsedSeconds", 3.5},
                        {"replicaStatuses", {{"Worker", {{"active", 1}, {"succeeded", 0}, {"failed", 0}}}}},
                        {"replicas", {{{"name", name + "-worker-0"}, {"type", "Worker"}, {"index", 0}, {"restarts", restarts},
                                       {"phase", "Running"}, {"log", log}}}}};
    ASSERT_TRUE(write_file_atomic((dir / "status.json").string(), s.dump()));
    ASSERT_TRUE(write_file_atomic((dir / "events.log").string(),
                                  "2026-11-30T10:00:00Z Created PyTorchJob " + name + "\n2026-11-30T10:00:01Z Running\n"));
  }
  nlohmann::json get_json(const std::string& path, int expected_status = 200) {
    auto r = client_->Get(path);
    EXPECT_TRUE(r) << path;
    if (!r) return {};
    EXPECT_EQ(r->status, expected_status) << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << path;
    return nlohmann::json::parse(r->body, nullptr, false);
  }

  fs::path root_;
  std::unique_ptr<dashboard::Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace

TEST_F(DashboardTest, NoJobsIsAnEmptyList) {
  EXPECT_EQ(get_json("/api/jobs"), nlohmann::json::array());
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(server_->port()) + "/?token=secret-token");
}

TEST_F(DashboardTest, JobsListAndDetailHaveTheirShapes) {
  write_job("train-a", "Running", 2);
  fs::create_directories(root_ / "not-a-job");  // no status.json: left out
  const auto jobs = get_json("/api/jobs");
  ASSERT_EQ(jobs.size(), 1u) << jobs;
  EXPECT_EQ(jobs[0]["name"], "train-a");
  EXPECT_EQ(jobs[0]["kind"], "PyTorchJob");
  EXPECT_EQ(jobs[0]["phase"], "Running");
  EXPECT_EQ(jobs[0]["replicas"], (nlohmann::json{{"active", 1}, {"succeeded", 0}, {"failed", 0}}));
  EXPECT_EQ(jobs[0]["restarts"], 2);
  EXPECT_EQ(jobs[0]["start"], "2026-11-30T10:00:00Z");
  EXPECT_EQ(jobs[0]["seconds"], 3.5);
  const auto job = get_json("/api/jobs/train-a");
  EXPECT_EQ(job["phase"], "Running");
  ASSERT_EQ(job["events"].size(), 2u);
  EXPECT_EQ(job["events"][1], (nlohmann::json{{"time", "2026-11-30T10:00:01Z"}, {"text", "Running"}}));
  EXPECT_EQ(job["suspended"], false);
  EXPECT_EQ(job["replicas"][0]["name"], "train-a-worker-0");
}

TEST_F(DashboardTest, ALongEventLogKeepsItsStartAndShowsItsLast500Events) {
  write_job("train-a", "Running");
  std::string events = "2026-11-30T09:00:00Z Created PyTorchJob train-a\n";
  for (int i = 1; i < 600; ++i) events += "2026-11-30T10:00:00Z Restarting replica (" + std::to_string(i) + ")\n";
  ASSERT_TRUE(write_file_atomic((root_ / "train-a" / "events.log").string(), events));
  EXPECT_EQ(get_json("/api/jobs")[0]["start"], "2026-11-30T09:00:00Z");
  const auto job = get_json("/api/jobs/train-a");
  ASSERT_EQ(job["events"].size(), 500u);
  EXPECT_EQ(job["events"][499]["text"], "Restarting replica (599)");
}

TEST_F(DashboardTest, UnknownJobsReplicasAndPagesAre404WithAMessage) {
  write_job("train-a", "Running");
  EXPECT_EQ(get_json("/api/jobs/nope", 404)["error"], "no job nope under " + root_.string());
  EXPECT_EQ(get_json("/api/jobs/..", 404)["error"], "no job \"..\"");
  EXPECT_EQ(get_json("/api/jobs/train-a/logs/train-a-worker-9", 404)["error"], "job train-a has no replica train-a-worker-9");
  EXPECT_EQ(get_json("/api/nothing", 404)["error"], "GET /api/nothing: no such page");
  EXPECT_EQ(get_json("/api/jobs/train-a/logs/train-a-worker-0?bytes=x", 400)["error"],
            "bytes: expected a count of bytes, found \"x\"");
}

TEST_F(DashboardTest, ALogTailIsItsLastWholeLines) {
  write_job("train-a", "Running");
  const auto all = get_json("/api/jobs/train-a/logs/train-a-worker-0");
  EXPECT_EQ(all["text"], "epoch=1 loss=0.5\nepoch=2 loss=0.4\n");
  EXPECT_EQ(all["size"], 34);
  const auto tail = get_json("/api/jobs/train-a/logs/train-a-worker-0?bytes=20");
  EXPECT_EQ(tail["text"], "epoch=2 loss=0.4\n") << "a cut line is left out";
}

TEST_F(DashboardTest, ALogStreamSendsTheTailThenEachNewLine) {
  write_job("train-a", "Running");
  const fs::path log = root_ / "train-a" / "logs" / "train-a-worker-0-0.log";
  std::string received;
  std::thread writer([&] {  // the replica writes on while the stream is open
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::ofstream(log, std::ios::app) << "epoch=3 loss=0.3\r\n";
  });
  client_->set_read_timeout(10, 0);
  auto r = client_->Get("/api/jobs/train-a/logs/train-a-worker-0/stream", [&](const char* data, std::size_t n) {
    received.append(data, n);
    return received.find("epoch=3") == std::string::npos;  // stop once the new line came
  });
  writer.join();
  EXPECT_TRUE(received.starts_with("data: epoch=1 loss=0.5\n\ndata: epoch=2 loss=0.4\n\n")) << received;
  EXPECT_NE(received.find("data: epoch=3 loss=0.3\n\n"), std::string::npos) << "a CR is left out: " << received;
  EXPECT_EQ(get_json("/api/jobs/train-a/logs/train-a-worker-9/stream", 404)["error"], "job train-a has no replica train-a-worker-9");
}

TEST_F(DashboardTest, MetricsAreTheReplicasRecordsWithTheirReplica) {
  write_job("train-a", "Running");
  EXPECT_EQ(get_json("/api/jobs/train-a/metrics"), nlohmann::json::array()) << "none written yet";
  fs::create_directories(root_ / "train-a" / "metrics");
  ASSERT_TRUE(write_file_atomic((root_ / "train-a" / "metrics" / "train-a-master-0.jsonl").string(),
                                "{\"epoch\":1,\"step\":10,\"loss\":0.5}\n{\"epoch\":2,\"step\":20,\"loss\":0.25}\n{\"epo"));
  const auto m = get_json("/api/jobs/train-a/metrics");
  ASSERT_EQ(m.size(), 2u) << "a line still being written is left out: " << m;
  EXPECT_EQ(m[1], (nlohmann::json{{"epoch", 2}, {"step", 20}, {"loss", 0.25}, {"replica", "train-a-master-0"}}));
  EXPECT_EQ(get_json("/api/jobs/nope/metrics", 404)["error"], "no job nope under " + root_.string());
}

TEST_F(DashboardTest, SweepsShowTheirStateBestTrialAndTrials) {
  EXPECT_EQ(get_json("/api/sweeps"), nlohmann::json::array()) << "no experiments yet";
  // An experiment directory as `ringmaster sweep` leaves it: the Experiment and its journal.
  const fs::path dir = root_ / "experiments" / "random-search";
  fs::create_directories(dir);
  fs::copy_file(fs::path(RINGMASTER_SOURCE_DIR) / "examples" / "random-search-experiment.yaml", dir / "experiment.yaml");
  const std::string journal =
      R"({"event":"experiment_created","name":"random-search"})" "\n"
      R"({"event":"trial_created","trial":"random-search-a","index":0,"assignment":[["lr","0.01"],["momentum","0.5"]]})" "\n"
      R"({"event":"trial_created","trial":"random-search-b","index":1,"assignment":[["lr","0.05"],["momentum","0.9"]]})" "\n"
      R"({"event":"trial_finished","trial":"random-search-a","status":"Succeeded","objective":0.81,"metrics":{"accuracy":0.81},"series":[0.7,0.81]})" "\n"
      R"({"event":"trial_finished","trial":"random-search-b","status":"EarlyStopped","objective":0.42,"metrics":{"accuracy":0.42},"series":[0.42]})" "\n";
  ASSERT_TRUE(write_file_atomic((dir / "journal.jsonl").string(), journal));
  const auto sweeps = get_json("/api/sweeps");
  ASSERT_EQ(sweeps.size(), 1u) << sweeps;
  EXPECT_EQ(sweeps[0]["name"], "random-search");
  EXPECT_EQ(sweeps[0]["algorithm"], "random");
  EXPECT_EQ(sweeps[0]["state"], "Interrupted") << "no experiment_finished yet, and no driver holds it";
  EXPECT_EQ(sweeps[0]["trialCount"], 2);
  EXPECT_EQ(sweeps[0]["best"], (nlohmann::json{{"trial", "random-search-a"}, {"value", 0.81}}));
  EXPECT_EQ(sweeps[0]["objective"], (nlohmann::json{{"type", "maximize"}, {"metric", "accuracy"}, {"goal", 0.9}}));
  const auto detail = get_json("/api/sweeps/random-search");
  ASSERT_EQ(detail["trials"].size(), 2u);
  EXPECT_EQ(detail["trials"][1]["status"], "EarlyStopped") << "medianstop's decision";
  EXPECT_EQ(detail["trials"][0]["assignment"], (nlohmann::json{{"lr", "0.01"}, {"momentum", "0.5"}}));
  EXPECT_EQ(detail["trials"][0]["series"], (nlohmann::json{0.7, 0.81}));
  EXPECT_EQ(detail["parameters"], (nlohmann::json{"lr", "momentum", "hidden"}));
  EXPECT_EQ(detail["earlyStopping"]["algorithm"], "medianstop");
  EXPECT_EQ(detail["settings"][0]["name"], "random_state");
  EXPECT_EQ(get_json("/api/sweeps/nope", 404)["error"], "no experiment nope under " + (root_ / "experiments").string());
  // It ends: the journal's last record says how.
  std::ofstream(dir / "journal.jsonl", std::ios::app)
      << R"({"event":"experiment_finished","condition":"Succeeded","reason":"ExperimentMaxTrialsReached"})" << "\n";
  EXPECT_EQ(get_json("/api/sweeps")[0]["state"], "Succeeded");
  EXPECT_EQ(get_json("/api/sweeps")[0]["reason"], "ExperimentMaxTrialsReached");
}

TEST_F(DashboardTest, AMultiObjectiveSweepShowsItsFrontAndAPbtOneItsLineage) {
  const fs::path dir = root_ / "experiments" / "fashion-mnist-pareto";
  fs::create_directories(dir);
  fs::copy_file(fs::path(RINGMASTER_SOURCE_DIR) / "examples" / "multi-objective-experiment.yaml", dir / "experiment.yaml");
  // accuracy (max) and parameters (min): a dominates b (better in both); c trades accuracy for size.
  const std::string journal =
      R"({"event":"experiment_created","name":"fashion-mnist-pareto"})" "\n"
      R"({"event":"trial_created","trial":"p-a","index":0,"assignment":[["hidden","128"],["lr","0.1"]]})" "\n"
      R"({"event":"trial_created","trial":"p-b","index":1,"assignment":[["hidden","256"],["lr","0.1"]]})" "\n"
      R"({"event":"trial_created","trial":"p-c","index":2,"assignment":[["hidden","8"],["lr","0.1"]]})" "\n"
      R"({"event":"trial_finished","trial":"p-a","status":"Succeeded","objective":0.86,"metrics":{"accuracy":0.86,"parameters":101770}})" "\n"
      R"({"event":"trial_finished","trial":"p-b","status":"Succeeded","objective":0.85,"metrics":{"accuracy":0.85,"parameters":203530}})" "\n"
      R"({"event":"trial_finished","trial":"p-c","status":"Succeeded","objective":0.80,"metrics":{"accuracy":0.80,"parameters":6370}})" "\n";
  ASSERT_TRUE(write_file_atomic((dir / "journal.jsonl").string(), journal));
  const auto detail = get_json("/api/sweeps/fashion-mnist-pareto");
  EXPECT_EQ(detail["objectives"], (nlohmann::json{{{"metric", "accuracy"}, {"type", "maximize"}},
                                                  {{"metric", "parameters"}, {"type", "minimize"}}}));
  EXPECT_EQ(detail["front"], (nlohmann::json{"p-a", "p-c"}));
  // Up to the annotation's reference (0.7, 420000): (0.86 - 0.7) x (420000 - 101770) plus the
  // strip c adds, (0.80 - 0.7) x (101770 - 6370).
  EXPECT_NEAR(detail["hypervolume"].get<double>(), 0.16 * 318230 + 0.10 * 95400, 1e-6);

  const fs::path pbt = root_ / "experiments" / "fashion-mnist-pbt";
  fs::create_directories(pbt);
  fs::copy_file(fs::path(RINGMASTER_SOURCE_DIR) / "examples" / "pbt-experiment.yaml", pbt / "experiment.yaml");
  ASSERT_TRUE(write_file_atomic(
      (pbt / "journal.jsonl").string(),
      R"({"event":"experiment_created","name":"fashion-mnist-pbt"})" "\n"
      R"({"event":"trial_created","trial":"g0","index":0,"generation":0,"member":0,"assignment":[["lr","0.1"],["momentum","0.9"]]})" "\n"
      R"({"event":"trial_created","trial":"g1","index":1,"generation":1,"member":0,"parent":"g0","note":"generation 1, continues","assignment":[["lr","0.1"],["momentum","0.9"]]})" "\n"));
  const auto lineage = get_json("/api/sweeps/fashion-mnist-pbt");
  EXPECT_EQ(lineage["trials"][1]["parent"], "g0");
  EXPECT_EQ(lineage["trials"][0]["parent"], "");
  EXPECT_FALSE(lineage.contains("front")) << "one objective: a best trial, no front";
}

TEST_F(DashboardTest, AJobDirectoryBeingRewrittenIsReadWhole) {
  write_job("train-a", "Running");
  std::atomic<bool> stop{false};
  std::thread writer([&] {  // the launcher replaces status.json as the job goes on
    for (int i = 0; i < 400 && !stop; ++i) write_job("train-a", i % 2 ? "Running" : "Restarting", i);
  });
  for (int i = 0; i < 100; ++i) {
    const auto j = get_json("/api/jobs/train-a");
    ASSERT_TRUE(j.is_object());
    ASSERT_TRUE(j["phase"] == "Running" || j["phase"] == "Restarting") << j;
    ASSERT_EQ(get_json("/api/jobs").size(), 1u);
  }
  stop = true;
  writer.join();
}

TEST_F(DashboardTest, ActionsNeedTheTokenAndTheSameOrigin) {
  write_job("train-a", "Running");
  const fs::path suspend = root_ / "train-a" / "suspend";
  auto r = client_->Post("/api/jobs/train-a/suspend");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->body.find("expected the dashboard's token"), std::string::npos) << r->body;
  r = client_->Post("/api/jobs/train-a/suspend", {{"Authorization", "Bearer wrong"}}, "", "application/json");
  EXPECT_EQ(r->status, 401);
  const std::string own = "http://127.0.0.1:" + std::to_string(server_->port());
  r = client_->Post("/api/jobs/train-a/suspend",
                    {{"Authorization", "Bearer secret-token"}, {"Origin", "http://elsewhere.example"}}, "", "application/json");
  EXPECT_EQ(r->status, 403) << "a page of another site posting here";
  EXPECT_FALSE(fs::exists(suspend));
  r = client_->Post("/api/jobs/train-a/suspend", {{"Authorization", "Bearer secret-token"}, {"Origin", own}}, "",
                    "application/json");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(fs::exists(suspend)) << "the launcher keeps a job suspended while this file exists";
  EXPECT_EQ(get_json("/api/jobs/train-a")["suspended"], true);
  r = client_->Post("/api/jobs/train-a/resume?token=secret-token");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(fs::exists(suspend));
  write_job("done", "Succeeded");
  r = client_->Post("/api/jobs/done/suspend?token=secret-token");
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("job done has finished (Succeeded)"), std::string::npos) << r->body;
}

TEST_F(DashboardTest, ThePrintedUrlSetsTheTokenCookie) {
  auto r = client_->Get("/api/jobs?token=secret-token");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Set-Cookie"), "ringmaster_token=secret-token; HttpOnly; SameSite=Strict; Path=/");
  r = client_->Post("/api/jobs/x/suspend", {{"Cookie", "a=b; ringmaster_token=secret-token"}}, "", "application/json");
  EXPECT_EQ(r->status, 404) << "past the token check: no job x";
}

TEST_F(DashboardTest, ARunningJobsDurationCountsOnAndItsGpusShow) {
  write_job("train-a", "Running");
  auto s = nlohmann::json::parse(*read_file((root_ / "train-a" / "status.json").string()));
  s["launcherPid"] = static_cast<int>(::getpid());  // a launcher that runs: this process
  s["replicas"][0]["gpus"] = "0,1";
  ASSERT_TRUE(write_file_atomic((root_ / "train-a" / "status.json").string(), s.dump()));
  // Written 10 s ago: the job has run 3.5 s then, 13.5 s now.
  fs::last_write_time(root_ / "train-a" / "status.json", fs::file_time_type::clock::now() - std::chrono::seconds(10));
  const double seconds = get_json("/api/jobs")[0]["seconds"];
  EXPECT_GE(seconds, 13.4);
  EXPECT_LT(seconds, 60.0);
  const auto job = get_json("/api/jobs/train-a");
  EXPECT_GE(job["elapsedSeconds"].get<double>(), 13.4);
  EXPECT_EQ(job["launcherAlive"], true);
  EXPECT_EQ(job["replicas"][0]["gpus"], "0,1");
  write_job("gone", "Running");  // its launcher was killed: no pid; the time stops where it was
  EXPECT_EQ(get_json("/api/jobs/gone")["elapsedSeconds"], 3.5);
  EXPECT_EQ(get_json("/api/jobs/gone")["launcherAlive"], false);
}

TEST_F(DashboardTest, StepRecordsAreThinnedEpochRecordsKept) {
  write_job("train-a", "Running");
  fs::create_directories(root_ / "train-a" / "metrics");
  std::string lines;
  for (int step = 1; step <= 2500; ++step) {
    lines += nlohmann::json{{"step", step}, {"window_steps", 1}, {"loss", 1.0 / step}}.dump() + "\n";
    if (step % 1000 == 0) lines += nlohmann::json{{"epoch", step / 1000}, {"step", step}, {"loss", 0.1}}.dump() + "\n";
  }
  ASSERT_TRUE(write_file_atomic((root_ / "train-a" / "metrics" / "train-a-master-0.jsonl").string(), lines));
  const auto m = get_json("/api/jobs/train-a/metrics");
  int steps = 0, epochs = 0;
  for (const auto& r : m) (r.contains("window_steps") ? steps : epochs) += 1;
  EXPECT_EQ(epochs, 2);
  EXPECT_LE(steps, 1000);
  EXPECT_GE(steps, 800);
  EXPECT_EQ(m.back()["step"], 2500) << "the latest step record is kept";
}

TEST_F(DashboardTest, ATimelineIsServedFromWhereItsMetricsSayItIs) {
  write_job("train-a", "Running");
  fs::create_directories(root_ / "train-a" / "metrics");
  const fs::path trace = root_ / "trace.json";
  ASSERT_TRUE(write_file_atomic(trace.string(), R"({"traceEvents":[{"name":"forward","ph":"X","ts":1,"dur":2}]})"));
  EXPECT_EQ(get_json("/api/jobs/train-a/timeline/train-a-master-0", 404)["error"],
            "replica train-a-master-0 of job train-a has written no --timeline");
  ASSERT_TRUE(write_file_atomic((root_ / "train-a" / "metrics" / "train-a-master-0.jsonl").string(),
                                "{\"epoch\":1,\"step\":10}\n" + nlohmann::json{{"timeline", trace.string()}}.dump() + "\n"));
  auto r = client_->Get("/api/jobs/train-a/timeline/train-a-master-0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, *read_file(trace.string()));
  EXPECT_EQ(r->get_header_value("Content-Disposition"), "attachment; filename=\"train-a-train-a-master-0-timeline.json\"");
  EXPECT_EQ(get_json("/api/jobs/train-a/timeline/..", 404).contains("error"), true);
  ASSERT_TRUE(write_file_atomic((root_ / "secret.txt").string(), "not a trace\n"));
  ASSERT_TRUE(write_file_atomic((root_ / "train-a" / "metrics" / "train-a-worker-0.jsonl").string(),
                                nlohmann::json{{"timeline", (root_ / "secret.txt").string()}}.dump() + "\n"));
  EXPECT_NE(get_json("/api/jobs/train-a/timeline/train-a-worker-0", 404)["error"].get<std::string>().find("is not a Chrome trace"),
            std::string::npos) << "a record naming another file does not serve it";
  fs::remove(trace);
  EXPECT_NE(get_json("/api/jobs/train-a/timeline/train-a-master-0", 404)["error"].get<std::string>().find("is gone"),
            std::string::npos);
}

TEST_F(DashboardTest, DeleteRunsRingmasterDeleteAndTheJobIsGone) {
  write_job("train-a", "Succeeded");
  auto r = client_->Post("/api/jobs/train-a/delete");
  EXPECT_EQ(r->status, 401) << "an action needs the token";
  EXPECT_TRUE(fs::exists(root_ / "train-a"));
  r = client_->Post("/api/jobs/nope/delete?token=secret-token");
  EXPECT_EQ(r->status, 404);
  r = client_->Post("/api/jobs/train-a/delete?token=secret-token");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(fs::exists(root_ / "train-a"));
  EXPECT_EQ(get_json("/api/jobs"), nlohmann::json::array());
}

TEST_F(DashboardTest, StoppingASweepNeedsItsDriverAndLeavesTheStopFile) {
  const fs::path dir = root_ / "experiments" / "random-search";
  fs::create_directories(dir);
  fs::copy_file(fs::path(RINGMASTER_SOURCE_DIR) / "examples" / "random-search-experiment.yaml", dir / "experiment.yaml");
  ASSERT_TRUE(write_file_atomic((dir / "journal.jsonl").string(), R"({"event":"experiment_created","name":"random-search"})" "\n"));
  auto r = client_->Post("/api/sweeps/random-search/stop?token=secret-token");
  EXPECT_EQ(r->status, 409) << "no driver runs it: " << r->body;
  EXPECT_EQ(client_->Post("/api/sweeps/nope/stop?token=secret-token")->status, 404);
  // A driver: another process holding the lock on driver.lock (sweep/driver.h).
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t driver = ::fork();
  if (driver == 0) {
    const int fd = ::open((dir / "driver.lock").c_str(), O_RDWR | O_CREAT, 0600);
    struct flock whole = {};
    whole.l_type = F_WRLCK;
    whole.l_whence = SEEK_SET;
    const char ok = ::fcntl(fd, F_SETLK, &whole) == 0 ? '1' : '0';
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]), ::close(ready[1]);
  ASSERT_EQ(ok, '1');
  EXPECT_EQ(get_json("/api/sweeps")[0]["state"], "Running");
  EXPECT_EQ(client_->Post("/api/sweeps/random-search/stop")->status, 401);
  r = client_->Post("/api/sweeps/random-search/stop?token=secret-token");
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(fs::exists(dir / "stop")) << "the driver stops when it sees this file";
  ::kill(driver, SIGKILL);
  ::waitpid(driver, nullptr, 0);
  std::ofstream(dir / "journal.jsonl", std::ios::app) << R"({"event":"experiment_stopped"})" << "\n";
  EXPECT_EQ(get_json("/api/sweeps")[0]["state"], "Stopped");
}
