#include "worker/run_reporter.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "common/process_stats.h"

namespace ringmaster::worker {

using SteadyClock = std::chrono::steady_clock;

// What --metrics-port serves, updated by the training thread and read per scrape.
class RunReporter::LiveMetrics {
 public:
  explicit LiveMetrics(int rank) : rank_(std::to_string(rank)) {}
  void step(int64_t samples, double step_s, double compute_s, double wait_s, double data_s, double loss) {
    std::lock_guard lock(mu_);
    samples_ += samples;
    ++steps_;
    step_s_ += step_s, compute_s_ += compute_s, wait_s_ += wait_s, data_s_ += data_s;
    loss_ = loss;
  }
  void epoch(int64_t epoch, double samples_per_second, double test_accuracy) {
    std::lock_guard lock(mu_);
    epoch_ = epoch, sps_ = samples_per_second, accuracy_ = test_accuracy;
  }
  void membership(int generation, int members, int64_t lost_steps, double seconds) {
    std::lock_guard lock(mu_);
    generation_ = generation, members_ = members, lost_steps_ += lost_steps, recovery_s_ += seconds, ++changes_;
  }
  std::string render() const {
    std::lock_guard lock(mu_);
    PrometheusText t;
    const PrometheusText::Labels l = {{"rank", rank_}};
    auto one = [&](const char* name, const char* type, const char* help, double v) {
      t.family(name, type, help);
      t.sample(name, l, v);
    };
    one("ringmaster_train_samples_total", "counter", "Training samples this rank has processed", static_cast<double>(samples_));
    one("ringmaster_train_steps_total", "counter", "Optimizer steps this rank has taken", static_cast<double>(steps_));
    one("ringmaster_train_samples_per_second", "gauge", "Training throughput of all ranks over the last epoch", sps_);
    one("ringmaster_train_step_seconds_sum", "counter", "Seconds in training steps", step_s_);
    one("ringmaster_train_compute_seconds_sum", "counter", "Seconds in forward, backward and the optimizer", compute_s_);
    one("ringmaster_train_allreduce_wait_seconds_sum", "counter", "Seconds blocked on the gradient allreduce", wait_s_);
    one("ringmaster_train_data_wait_seconds_sum", "counter", "Seconds waiting for the next batch", data_s_);
    one("ringmaster_train_loss", "gauge", "Training loss of the last step (this rank's batch)", loss_);
    one("ringmaster_train_epoch", "gauge", "Epochs completed", static_cast<double>(epoch_));
    one("ringmaster_train_test_accuracy", "gauge", "Test accuracy after the last epoch", accuracy_);
    if (changes_ > 0) {
      one("ringmaster_train_elastic_generation", "gauge", "The elastic group's current generation", generation_);
      one("ringmaster_train_elastic_members", "gauge", "Members of the current generation", members_);
      one("ringmaster_train_elastic_changes_total", "counter", "Membership changes this worker went through",
          static_cast<double>(changes_));
      one("ringmaster_train_elastic_lost_steps_total", "counter", "Steps the group went back at membership changes",
          static_cast<double>(lost_steps_));
      one("ringmaster_train_elastic_recovery_seconds_sum", "counter", "Seconds from a change to training again",
          recovery_s_);
    }
    return t.str();
  }

 private:
  mutable std::mutex mu_;
  std::string rank_;
  int64_t samples_ = 0, steps_ = 0, epoch_ = 0;                            // GUARDED_BY(mu_)
  double step_s_ = 0, compute_s_ = 0, wait_s_ = 0, data_s_ = 0, loss_ = 0;  // GUARDED_BY(mu_)
  double sps_ = 0, accuracy_ = 0;                                          // GUARDED_BY(mu_)
  int generation_ = 0, members_ = 0;                                       // GUARDED_BY(mu_)
  int64_t changes_ = 0, lost_steps_ = 0;                                   // GUARDED_BY(mu_)
  double recovery_s_ = 0;                                                  // GUARDED_BY(mu_)
};

// Appends JSON lines and makes each durable before training goes on.
class RunReporter::MetricsFile {
 public:
  Status open(const std::string& path) {
    file_ = std::fopen(path.c_str(), "a");
    if (!file_) return invalid_argument(fmt::format("--metrics-file {}: cannot open for appending", path));
    return Status::ok();
  }
  ~MetricsFile() {
    if (file_) std::fclose(file_);
  }
  // `durable`: fsynced (an epoch's, the summary); else only flushed (a step record, every second).
  void write(const nlohmann::json& record, bool durable = true) {
    const std::string line = record.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
    if (durable) ::fsync(::fileno(file_));
  }

 private:
  std::FILE* file_ = nullptr;
};

RunReporter::RunReporter(const TrainConfig& config, std::FILE* out, int rank, int world, TimePoint start)
    : config_(config),
      out_(out),
      rank_(rank),
      world_(world),
      leader_(rank == 0),
      bar_(leader_ && (config.progress == Progress::kBar ||
                       (config.progress == Progress::kAuto && ::isatty(::fileno(out))))),
      start_(start) {}

RunReporter::~RunReporter() = default;

Status RunReporter::open() {
  if (!config_.timeline.empty()) timeline_ = std::make_unique<Timeline>(rank_, start_);
  if (config_.metrics_port >= 0) {
    live_ = std::make_unique<LiveMetrics>(rank_);
    const int port = config_.metrics_port > 0 ? config_.metrics_port + rank_ : 0;
    auto server = MetricsServer::start(config_.metrics_address, port, [this] { return live_->render(); });
    if (!server) return server.status().with_context(fmt::format("--metrics-port (rank {} listens on {})", rank_, port));
    server_ = std::move(*server);
    spdlog::info("rank {}: metrics at http://{}:{}/metrics", rank_, config_.metrics_address, server_->port());
  }
  if (leader_ && !config_.metrics_file.empty()) {
    file_ = std::make_unique<MetricsFile>();
    if (Status s = file_->open(config_.metrics_file); !s) return s;
  }
  return Status::ok();
}

void RunReporter::rebind(int rank, int world) {
  rank_ = rank, world_ = world, leader_ = rank == 0;
  if (leader_ && !file_ && !config_.metrics_file.empty()) {
    auto file = std::make_unique<MetricsFile>();
    if (Status s = file->open(config_.metrics_file); !s) spdlog::warn("{}", s.message());
    else file_ = std::move(file);
  }
}

double RunReporter::seconds_since(TimePoint t) const {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

void RunReporter::begin_epoch() {
  epoch_start_ = SteadyClock::now();
  window_ = Window{};  // a window spans no evaluation
  last_draw_ = epoch_start_ - std::chrono::seconds(1);  // draw the bar at the first step
  epoch_trained_ = 0;
}

void RunReporter::step(const StepRecord& r, const TrainState& state, int64_t steps_per_epoch) {
  ++timed_steps_;
  epoch_trained_ += r.samples;
  if (timeline_) trace(r, state.global_step);
  if (live_) {
    auto sec = [](SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); };
    const double wait = sec(r.synced - r.backward_done);
    live_->step(r.samples, sec(r.done - r.wait_start), sec(r.done - r.data_ready) - wait, wait,
                sec(r.data_ready - r.wait_start), r.on_device ? last_epoch_loss_ : r.loss.loss);
  }
  if (bar_ && !r.on_device && seconds_since(last_draw_) > 0.1) draw_bar(state, steps_per_epoch);
  if (file_ && config_.metrics_step_seconds > 0) window_step(r, state, steps_per_epoch);
}

void RunReporter::window_step(const StepRecord& r, const TrainState& state, int64_t steps_per_epoch) {
  auto sec = [](SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); };
  Window& w = window_;
  if (w.steps == 0) w.start = r.wait_start;
  ++w.steps;
  w.samples += r.samples;
  if (!r.on_device) {  // on a device the step's figures are its enqueueing's: only counts then
    const double wait = sec(r.synced - r.backward_done);
    w.wait_s += wait;
    w.data_s += sec(r.data_ready - r.wait_start);
    w.compute_s += sec(r.done - r.data_ready) - wait;
    w.loss += r.loss.loss;
    ++w.losses;
  }
  const double seconds = sec(r.done - w.start);
  if (seconds < config_.metrics_step_seconds) return;
  const double n = static_cast<double>(w.steps);
  nlohmann::json record = {
      {"step", state.global_step}, {"window_steps", w.steps},
      {"epoch_progress", static_cast<double>(state.epoch) +
                             (steps_per_epoch > 0 ? static_cast<double>(state.batch_in_epoch) / static_cast<double>(steps_per_epoch) : 0.0)},
      {"samples_per_sec", static_cast<double>(w.samples * world_) / seconds}, {"elapsed_sec", seconds_since(start_)}};
  if (w.losses > 0) {
    record["loss"] = w.loss / static_cast<double>(w.losses);
    record["compute_ms"] = w.compute_s * 1e3 / n;
    record["allreduce_wait_ms"] = w.wait_s * 1e3 / n;
    record["data_wait_ms"] = w.data_s * 1e3 / n;
  }
  file_->write(record, false);
  w = Window{};
}

void RunReporter::trace(const StepRecord& r, int64_t step_number) {
  const std::string step = fmt::format("\"step\":{}", step_number);
  if (r.on_device) {
    timeline_->span(Timeline::Row::kCompute, "step (enqueued)", r.data_ready, r.done, step);
    return;
  }
  timeline_->span(Timeline::Row::kData, "next batch", r.wait_start, r.data_ready, step);
  timeline_->span(Timeline::Row::kCompute, "forward", r.data_ready, r.forward_done, step);
  timeline_->span(Timeline::Row::kCompute, "backward", r.forward_done, r.backward_done, step);
  if (r.wait_name) timeline_->span(Timeline::Row::kWait, r.wait_name, r.backward_done, r.synced, step);
  int k = 0;
  for (const auto& bt : r.buckets)
    timeline_->span(Timeline::Row::kAllreduce, "bucket", bt.start, bt.end,
                    fmt::format("{},\"bucket\":{},\"bytes\":{}", step, k++, bt.bytes));
  timeline_->span(Timeline::Row::kCompute, "optimizer", r.synced, r.done, step);
}

void RunReporter::draw_bar(const TrainState& state, int64_t steps_per_epoch) {
  last_draw_ = SteadyClock::now();
  const int width = 30;
  const auto done = static_cast<int>(width * state.batch_in_epoch / steps_per_epoch);
  fmt::print(out_, "\repoch {} [{}{}] {}/{} loss {:.4f} {:.0f} samples/s\033[K", state.epoch + 1,
             std::string(static_cast<std::size_t>(done), '='), std::string(static_cast<std::size_t>(width - done), ' '),
             state.batch_in_epoch, steps_per_epoch, state.epoch_loss_sum / static_cast<double>(state.epoch_samples),
             static_cast<double>(epoch_trained_ * world_) / seconds_since(epoch_start_));
  std::fflush(out_);
}

double RunReporter::end_epoch_timing() {
  const double seconds = seconds_since(epoch_start_);
  if (bar_) fmt::print(out_, "\r\033[K");
  return seconds;
}

void RunReporter::epoch(const EpochReport& e) {
  last_epoch_loss_ = e.loss;
  if (live_) live_->epoch(e.epoch - (e.complete ? 0 : 1), e.samples_per_second, e.eval.accuracy());
  if (!leader_) return;
  std::string line = fmt::format("epoch={} step={} loss={:.4f}", e.epoch, e.step, e.loss);
  if (config_.evaluate) line += fmt::format(" accuracy={:.4f} test_loss={:.4f}", e.eval.accuracy(), e.eval.loss());
  line += fmt::format(" train_accuracy={:.4f} lr={:.6g} samples_per_sec={:.1f}", e.train_accuracy, e.lr,
                      e.samples_per_second);
  fmt::print(out_, "{}\n", line);
  std::fflush(out_);
  if (trainer_status_.active()) {
    std::vector<std::pair<std::string, double>> metrics = {{"loss", e.loss}, {"train_accuracy", e.train_accuracy},
                                                           {"lr", e.lr}, {"epoch", static_cast<double>(e.epoch)}};
    if (config_.evaluate) metrics.insert(metrics.begin(), {{"accuracy", e.eval.accuracy()}, {"test_loss", e.eval.loss()}});
    const double elapsed = seconds_since(start_);
    const int64_t total = std::max<int64_t>(1, e.total_steps);
    const int64_t remaining = e.step > 0 ? static_cast<int64_t>(elapsed / static_cast<double>(e.step) *
                                                                static_cast<double>(std::max<int64_t>(0, total - e.step)))
                                         : -1;
    trainer_status_.report(static_cast<int>(std::min<int64_t>(99, e.step * 100 / total)), remaining, metrics);
  }
  if (!file_) return;
  nlohmann::json record = {{"epoch", e.epoch}, {"step", e.step}, {"loss", e.loss},
                           {"train_accuracy", e.train_accuracy}, {"lr", e.lr}, {"samples_per_sec", e.samples_per_second},
                           {"elapsed_sec", seconds_since(start_)}};
  if (config_.evaluate) record["accuracy"] = e.eval.accuracy(), record["test_loss"] = e.eval.loss();
  if (e.checksum) record["param_checksum"] = fmt::format("{:016x}", *e.checksum), record["ranks"] = e.world;
  file_->write(record);
}

void RunReporter::membership_change(int generation, int members, int64_t lost_steps, TimePoint began,
                                    TimePoint ended, const std::string& cause) {
  const double seconds = std::chrono::duration<double>(ended - began).count();
  if (live_) live_->membership(generation, members, lost_steps, seconds);
  if (timeline_)
    timeline_->span(Timeline::Row::kWait, "membership change", began, ended,
                    fmt::format("\"generation\":{},\"members\":{},\"lost_steps\":{}", generation, members, lost_steps));
  if (leader_ && file_)
    file_->write({{"membership_change", true}, {"generation", generation}, {"members", members},
                  {"lost_steps", lost_steps}, {"recovery_sec", seconds}, {"cause", cause},
                  {"elapsed_sec", seconds_since(start_)}});
}

Status RunReporter::write_timeline(collectives::Communicator* comm) {
  if (!timeline_ || !(comm || leader_)) return Status::ok();
  if (Status s = timeline_->write(config_.timeline, comm); !s)
    return s.with_context("writing --timeline " + config_.timeline);
  if (leader_) {
    spdlog::info("timeline: {} events per rank{} in {}", timeline_->events(), world_ > 1 ? " (rank 0)" : "",
                 config_.timeline);
    std::error_code ec;  // where the dashboard finds it
    if (file_) file_->write({{"timeline", std::filesystem::absolute(config_.timeline, ec).string()}});
  }
  return Status::ok();
}

void RunReporter::fill_step_times(TrainSummary& summary, std::chrono::nanoseconds wait, double train_seconds) const {
  if (timed_steps_ == 0) return;
  const double steps = static_cast<double>(timed_steps_);
  summary.allreduce_wait_ms = std::chrono::duration<double, std::milli>(wait).count() / steps;
  summary.data_wait_ms = std::chrono::duration<double, std::milli>(data_wait_).count() / steps;
  summary.compute_ms = std::max(0.0, train_seconds * 1e3 / steps - summary.data_wait_ms - summary.allreduce_wait_ms);
}

void RunReporter::summary(const TrainSummary& s, const std::string& model_spec, int64_t epochs,
                          const char* wait_name, const std::string& note, const std::string& batches) {
  if (!leader_) return;
  const double rss = peak_rss_mib();
  fmt::print(out_,
             "summary: model={} epochs={} steps={} accuracy={:.4f} best_accuracy={:.4f} test_loss={:.4f} "
             "wall_sec={:.1f} samples_per_sec={:.1f} peak_rss_mib={:.1f} ranks={} parameters={}\n",
             model_spec, epochs, s.global_step, s.accuracy, s.best_accuracy, s.test_loss, s.wall_seconds,
             s.samples_per_second, rss, s.world_size, s.parameters);
  if (trainer_status_.active()) {  // the run's end: 100%, the final figures
    std::vector<std::pair<std::string, double>> metrics = {{"loss", s.loss}, {"best_accuracy", s.best_accuracy},
                                                           {"parameters", static_cast<double>(s.parameters)},
                                                           {"epoch", static_cast<double>(epochs)}};
    if (config_.evaluate) metrics.insert(metrics.begin(), {{"accuracy", s.accuracy}, {"test_loss", s.test_loss}});
    trainer_status_.report(100, 0, metrics);
  }
  fmt::print(out_, "step time: compute={:.2f}ms {}={:.2f}ms data_wait={:.2f}ms{}{}\n", s.compute_ms, wait_name,
             s.allreduce_wait_ms, s.data_wait_ms, note, batches.empty() ? std::string() : " rank_batches=" + batches);
  std::fflush(out_);
  if (!file_) return;
  file_->write({{"summary", true}, {"model", model_spec}, {"epochs", epochs}, {"steps", s.global_step},
                {"accuracy", s.accuracy}, {"best_accuracy", s.best_accuracy}, {"test_loss", s.test_loss},
                {"wall_sec", s.wall_seconds}, {"samples_per_sec", s.samples_per_second}, {"peak_rss_mib", rss},
                {"ranks", s.world_size}, {"parameters", s.parameters}, {"compute_ms", s.compute_ms}, {"allreduce_wait_ms", s.allreduce_wait_ms},
                {"data_wait_ms", s.data_wait_ms}});
}

}  // namespace ringmaster::worker
