#include "worker/train_config.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <utility>

namespace ringmaster::worker {
namespace {

// One table per enum: its flag, and each value's name in order.
template <typename E, std::size_t N>
struct Names {
  const char* flag;
  std::array<std::pair<E, std::string_view>, N> values;

  std::string_view name(E e) const {
    for (const auto& [v, n] : values)
      if (v == e) return n;
    return "?";
  }
  Result<E> parse(std::string_view text) const {
    for (const auto& [v, n] : values)
      if (n == text) return v;
    std::string expected;
    for (std::size_t i = 0; i < N; ++i)
      expected += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(values[i].second);
    return invalid_argument(fmt::format("{}: expected {}, found \"{}\"", flag, expected, text));
  }
};

constexpr Names<DataSource, 2> kDataSources{
    "--dataset", {{{DataSource::kFashionMnist, "fashion-mnist"}, {DataSource::kSynthetic, "synthetic"}}}};
constexpr Names<Device, 2> kDevices{"--device", {{{Device::kCpu, "cpu"}, {Device::kCuda, "cuda"}}}};
constexpr Names<Progress, 3> kProgress{
    "--progress", {{{Progress::kAuto, "auto"}, {Progress::kBar, "bar"}, {Progress::kLines, "lines"}}}};
constexpr Names<Precision, 3> kPrecisions{
    "--precision", {{{Precision::kFp32, "fp32"}, {Precision::kTf32, "tf32"}, {Precision::kBf16, "bf16"}}}};

}  // namespace

Result<DataSource> parse_data_source(std::string_view text) { return kDataSources.parse(text); }
Result<Device> parse_device(std::string_view text) { return kDevices.parse(text); }
Result<Progress> parse_progress(std::string_view text) { return kProgress.parse(text); }
Result<Precision> parse_precision(std::string_view text) { return kPrecisions.parse(text); }
std::string_view name_of(DataSource source) { return kDataSources.name(source); }
std::string_view name_of(Device device) { return kDevices.name(device); }
std::string_view name_of(Progress progress) { return kProgress.name(progress); }
std::string_view name_of(Precision precision) { return kPrecisions.name(precision); }

Status validate(const TrainConfig& c) {
  if (c.epochs <= 0 && c.steps <= 0)
    return invalid_argument(fmt::format("--epochs: expected > 0 (or --steps > 0), found {}", c.epochs));
  if (c.stop_at_step < 0)
    return invalid_argument(fmt::format("--stop-at-step: expected >= 0, found {}", c.stop_at_step));
  if (c.steps < 0) return invalid_argument(fmt::format("--steps: expected >= 0, found {}", c.steps));
  if (c.metrics_port < -1 || c.metrics_port > 65535)
    return invalid_argument(fmt::format("--metrics-port: expected a port in 0-65535, found {}", c.metrics_port));
  if (c.batch_size <= 0 || c.batch_size > 1'000'000)
    return invalid_argument(fmt::format("--batch-size: expected 1 to 1000000, found {}", c.batch_size));
  if (c.threads <= 0 || c.threads > 1024)
    return invalid_argument(fmt::format("--threads: expected 1 to 1024, found {}", c.threads));
  if (c.train_limit < 0 || c.test_limit < 0)
    return invalid_argument("--train-limit/--test-limit: expected >= 0");
  if (c.synthetic_samples <= 0)
    return invalid_argument(fmt::format("--synthetic-samples: expected > 0, found {}", c.synthetic_samples));
  if (c.lr < 0.0 || !std::isfinite(c.lr)) return invalid_argument(fmt::format("--lr: expected > 0, found {}", c.lr));
  if (c.warmup_epochs < 0.0) return invalid_argument(fmt::format("--warmup-epochs: expected >= 0, found {}", c.warmup_epochs));
  if (c.checkpoint_every < 0)
    return invalid_argument(fmt::format("--checkpoint-every: expected >= 0, found {}", c.checkpoint_every));
  if (c.keep_checkpoints < 1)
    return invalid_argument(fmt::format("--keep-checkpoints: expected >= 1, found {}", c.keep_checkpoints));
  if (c.bucket_bytes < 1024)
    return invalid_argument(fmt::format("--bucket-kib: expected >= 1, found {} bytes", c.bucket_bytes));
  if (c.balance_warmup_steps < 1)
    return invalid_argument(fmt::format("--balance-warmup-steps: expected >= 1, found {}", c.balance_warmup_steps));
  if (c.commit_every < 1)
    return invalid_argument(fmt::format("--commit-every: expected >= 1, found {}", c.commit_every));
  if (c.max_restarts < 0)
    return invalid_argument(fmt::format("--max-restarts: expected >= 0, found {}", c.max_restarts));
  if (!(c.slow_factor >= 1.0) || !std::isfinite(c.slow_factor))
    return invalid_argument(fmt::format("--slow-rank: expected a factor >= 1, found {}", c.slow_factor));
  if (c.resume && c.checkpoint_dir.empty()) return invalid_argument("--resume: needs --checkpoint-dir, found none");
  if (c.extra_epochs < 0)
    return invalid_argument(fmt::format("--extra-epochs: expected >= 0, found {}", c.extra_epochs));
  if (c.extra_epochs > 0 && c.checkpoint_dir.empty())
    return invalid_argument("--extra-epochs: needs --checkpoint-dir (where the run continues from), found none");
  if (c.extra_epochs > 0 && (c.steps > 0 || c.stop_at_step > 0))
    return invalid_argument("--extra-epochs: sets the run's length itself; expected no --steps or --stop-at-step, "
                            "found one");
  if (c.device == Device::kCpu && c.precision != Precision::kFp32)
    return invalid_argument(
        fmt::format("--precision {}: only with --device cuda (the CPU path is float32)", name_of(c.precision)));
  if (c.gpu < -1) return invalid_argument(fmt::format("--gpu: expected a device index >= 0, found {}", c.gpu));
  return Status::ok();
}

}  // namespace ringmaster::worker
