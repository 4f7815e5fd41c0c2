#include "worker/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cmath>

#include "worker/blas.h"
#include "worker/elastic.h"
#include "worker/run_reporter.h"

namespace ringmaster::worker {
namespace {

using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// Sums doubles over ranks in place (a no-op without a communicator).
Status sum_over_ranks(collectives::Communicator* comm, std::span<double> values, const char* what) {
  if (comm == nullptr || comm->size() == 1) return Status::ok();
  Status s = comm->allreduce(values.data(), values.data(), values.size(), collectives::DataType::kFloat64,
                             collectives::ReduceOp::kSum);
  return s ? s : s.with_context(what);
}

}  // namespace

Result<uint64_t> check_replicas_agree(collectives::Communicator& comm, std::span<const float> params) {
  uint64_t h = 1469598103934665603ULL;
  const auto* p = reinterpret_cast<const unsigned char*>(params.data());
  for (std::size_t i = 0; i < params.size_bytes(); ++i) h = (h ^ p[i]) * 1099511628211ULL;
  std::vector<int64_t> all(static_cast<std::size_t>(comm.size()));
  const auto mine = static_cast<int64_t>(h);
  if (Status s = comm.allgather(&mine, all.data(), 1, collectives::DataType::kInt64); !s)
    return s.with_context("comparing parameter checksums");
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      return internal_error(fmt::format("replicas diverged: rank 0's parameters have checksum {:016x}, rank {}'s "
                                        "{:016x}; data-parallel ranks must hold identical parameters",
                                        static_cast<uint64_t>(all[0]), r, static_cast<uint64_t>(all[r])));
  return h;
}

Trainer::Trainer(const TrainConfig& config, std::FILE* out, collectives::Communicator* comm, ParameterService* ps,
                 ElasticGroup* elastic)
    : config_(config), out_(out), comm_(comm), ps_(ps), elastic_(elastic) {
  world_ = comm ? comm->size() : ps ? ps->workers() : 1;
  rank_ = comm ? comm->rank() : ps ? ps->worker() : 0;
  leader_ = rank_ == 0;
  // With parameter servers only worker 0 evaluates, on the whole test set; otherwise every rank
  // evaluates its shard and the sums are reduced.
  evaluating_ = config.evaluate && (!ps || leader_);
}

Trainer::~Trainer() = default;

Status Trainer::prepare() {
  if (Status s = validate(config_); !s) return s;
  start_ = SteadyClock::now();
  set_math_threads(config_.threads);
  if (elastic_) {
    if (comm_ || ps_ || config_.device != Device::kCpu || config_.balance.kind != BalanceSpec::Kind::kNone)
      return invalid_argument("--elastic: trains on the CPU over its own group (not with --strategy ps, --device cuda "
                              "or --balance yet)");
  }
  if (Status s = load_data(); !s) return s;
  // Elastic: a worker joins once its data is loaded, so a restarted one does not hold up a
  // generation while it reads it.
  if (elastic_)
    if (Status s = join_generation(); !s) return s;
  if (Status s = build_model(); !s) return s;
  if (Status s = settle_start(); !s) return s;
  log_start();
  if (Status s = plan_balance(); !s) return s;
  if (Status s = open_loaders(); !s) return s;
  reporter_ = std::make_unique<RunReporter>(config_, out_, rank_, world_, start_);
  return reporter_->open();
}

Status Trainer::load_data() {
  const TrainConfig& c = config_;
  if (c.dataset == DataSource::kSynthetic) {
    train_data_ = make_synthetic(c.train_limit > 0 ? c.train_limit : c.synthetic_samples, c.seed);
    test_data_ = make_synthetic(c.test_limit > 0 ? c.test_limit : std::max<int64_t>(1, c.synthetic_samples / 6),
                                c.seed + 1);
    return Status::ok();
  }
  auto train = load_fashion_mnist(c.data_dir, Split::kTrain, c.train_limit);
  if (!train) return train.status();
  train_data_ = std::move(*train);
  if (!c.evaluate) return Status::ok();
  auto test = load_fashion_mnist(c.data_dir, Split::kTest, c.test_limit);
  if (!test) return test.status();
  test_data_ = std::move(*test);
  return Status::ok();
}

// The model, its optimizer, the step backend and the learning-rate schedule over the run's steps.
Status Trainer::build_model() {
  const TrainConfig& c = config_;
  auto model = Model::create(c.model, train_data_.sample_shape, train_data_.num_classes, c.dropout);
  if (!model) return model.status();
  model_ = std::move(*model);
  auto optimizer = make_optimizer(c.optimizer, model_->param_count());
  if (!optimizer) return optimizer.status();
  optimizer_ = std::move(*optimizer);
  auto backend = make_step_backend(c, *model_, *optimizer_, comm_, ps_);
  if (!backend) return backend.status();
  backend_ = std::move(*backend);

  if (elastic_) {  // one global batch of batch_size x MAX, split over the members (open_loaders)
    const int64_t global_batch = c.batch_size * elastic_->options().max_workers;
    steps_per_epoch_ = (train_data_.count + global_batch - 1) / global_batch;
  } else {
    const int64_t shard_samples = (train_data_.count + world_ - 1) / world_;  // padded, as the loader
    steps_per_epoch_ = (shard_samples + c.batch_size - 1) / c.batch_size;
  }
  max_steps_ = c.steps > 0 ? c.steps : c.epochs * steps_per_epoch_;
  run_until_ = c.stop_at_step > 0 ? std::min(max_steps_, c.stop_at_step) : max_steps_;
  schedule_.kind = c.lr_schedule;
  schedule_.base_lr = c.lr > 0.0 ? c.lr : (c.optimizer.name == "adam" ? 0.001 : 0.05);
  // --scale-lr: by the global batch over --batch-size (elastic: MAX, whatever the membership now).
  if (c.scale_lr) schedule_.base_lr *= elastic_ ? elastic_->options().max_workers : world_;
  const auto epochs_to_steps = [&](double epochs) {
    return static_cast<int64_t>(std::llround(epochs * static_cast<double>(steps_per_epoch_)));
  };
  schedule_.warmup_steps = epochs_to_steps(c.warmup_epochs);
  schedule_.step_size = epochs_to_steps(c.lr_step_epochs);
  schedule_.gamma = c.lr_gamma;
  schedule_.total_steps = max_steps_;
  schedule_.min_lr = c.min_lr;
  return validate(schedule_);
}

// Fresh, or rank 0's newest usable checkpoint; then as the backend settles it.
Status Trainer::settle_start() {
  const TrainConfig& c = config_;
  state_.seed = c.seed;
  model_->init(c.seed);
  state_.rng = Rng::derive(c.seed, 1ULL << 40).state();
  if ((c.resume || c.extra_epochs > 0) && leader_) {
    auto r = resume_from(c.checkpoint_dir, *model_, *optimizer_, state_);
    if (!r) return r.status();
    for (const auto& why : r->rejected) spdlog::warn("skipping checkpoint: {}", why);
    if (r->path.empty()) {
      spdlog::info("--resume: no checkpoint in {} yet; starting from scratch", c.checkpoint_dir);
    } else {
      spdlog::info("resumed from {} (epoch {}, batch {}, step {})", r->path, state_.epoch + 1,
                   state_.batch_in_epoch, state_.global_step);
      if (state_.seed != c.seed)
        spdlog::warn("--seed {} differs from the checkpoint's seed {}; continuing with the checkpoint's", c.seed,
                     state_.seed);
      summary_.resumed_from = r->path;
    }
  }
  if (elastic_) {
    if (c.extra_epochs > 0) return invalid_argument("--extra-epochs: not with elastic training (its length is fixed)");
    Status s = adopt_generation();
    return s || !is_membership_failure(s) ? s : recover(s);  // a member lost before the first step
  }
  if (Status s = backend_->start(state_, steps_per_epoch_); !s) return s;
  dropout_rng_.set_state(state_.rng);
  if (c.extra_epochs > 0) {
    // Every rank has the start's step now (the backend settled it from rank 0's).
    max_steps_ = run_until_ = state_.global_step + c.extra_epochs * steps_per_epoch_;
    schedule_.total_steps = max_steps_;
    if (leader_ && state_.global_step > 0)
      spdlog::info("--extra-epochs {}: training to step {} (epoch {})", c.extra_epochs, max_steps_,
                   state_.epoch + c.extra_epochs);
  }
  return Status::ok();
}

void Trainer::log_start() const {
  if (!leader_) return;
  std::string group;
  if (ps_)
    group = fmt::format(", worker {} of {} with {}", rank_, world_, ps_->describe());
  else if (world_ > 1)
    group = fmt::format(", {} ranks over {} ({} samples each per step)", world_, comm_->backend(), config_.batch_size);
  spdlog::info("model {} ({} parameters), {} on {} training samples, {} steps per epoch, compute threads {}{}",
               model_->spec(), model_->param_count(), optimizer_->name(), train_data_.count, steps_per_epoch_,
               config_.threads, group);
}

// --balance: a fixed split checked against the ranks, or a Balancer that measures; nothing where
// the backend does not split batches.
Status Trainer::plan_balance() {
  const BalanceSpec& balance = config_.balance;
  if (balance.kind == BalanceSpec::Kind::kNone) return Status::ok();
  if (const std::string why = backend_->unbalanced_because(); !why.empty()) {
    spdlog::info("--balance {}: {}", name_of(balance), why);
    return Status::ok();
  }
  const int64_t global_batch = config_.batch_size * world_;
  if (balance.kind == BalanceSpec::Kind::kAuto) {
    balancer_ = std::make_unique<Balancer>(world_, global_batch,
                                           std::vector<int64_t>(static_cast<std::size_t>(world_), config_.batch_size));
    return Status::ok();
  }
  int64_t sum = 0;
  for (int64_t b : balance.batches) sum += b;
  if (static_cast<int>(balance.batches.size()) != world_ || sum != global_batch)
    return invalid_argument(fmt::format("--balance {}: expected {} batch sizes (one per rank) adding up to {} ({} "
                                        "ranks x --batch-size {}), found {} adding up to {}",
                                        name_of(balance), world_, global_batch, world_, config_.batch_size,
                                        balance.batches.size(), sum));
  rank_batches_ = balance.batches;
  return Status::ok();
}

Status Trainer::open_loaders() {
  const TrainConfig& c = config_;
  // The data order is a function of the run's seed and the epoch, so a resumed run replays it;
  // each rank reads its shard of it.
  BatchLoader::Options o{c.batch_size, true, state_.seed, 3, rank_, world_, true};
  std::vector<int64_t> shares = rank_batches_;
  if (elastic_) {
    // Elastic: every step is the same global batch whatever the membership, split evenly over the
    // members, so a change keeps the update and the position in the epoch (balance.h).
    const int64_t global_batch = c.batch_size * elastic_->options().max_workers;
    if (world_ == 1) o.batch_size = global_batch;
    else shares = split_proportionally(global_batch, std::vector<double>(static_cast<std::size_t>(world_), 1.0));
  }
  loader_ = std::make_unique<BatchLoader>(train_data_, o);
  loader_->set_shard_batches(shares);
  if (leader_ && !rank_batches_.empty()) spdlog::info("per-rank batch sizes {}", join_batches(rank_batches_));
  if (evaluating_)
    test_loader_ = std::make_unique<BatchLoader>(
        test_data_, BatchLoader::Options{c.batch_size, false, 0, 3, ps_ ? 0 : rank_, ps_ ? 1 : world_, false});
  return Status::ok();
}

Status Trainer::run() {
  while (state_.global_step < run_until_) {
    Status s = run_epoch();
    if (s) continue;
    // A lost or hung member (elastic): the survivors meet again and go on from the newest step one completed.
    if (!elastic_ || !is_membership_failure(s)) return s;
    if (Status r = recover(s); !r) return r;
  }
  return Status::ok();
}

Status Trainer::run_epoch() {
  loader_->start_epoch(state_.epoch, state_.batch_in_epoch);
  reporter_->begin_epoch();
  lr_ = schedule_.at(state_.global_step);
  while (state_.global_step < run_until_) {
    const auto wait_start = SteadyClock::now();
    const Batch* b = loader_->next();
    const auto data_ready = SteadyClock::now();
    reporter_->waited_for_data(data_ready - wait_start);
    if (b == nullptr) break;
    if (Status s = take_step(*b, wait_start, data_ready); !s) return s;
  }
  // Elastic, --stop-at-step before the end: this worker leaves the group here, as a preempted one
  // does, without the epoch's collectives (the others go on without it).
  if (elastic_ && state_.global_step == run_until_ && run_until_ < max_steps_) return Status::ok();
  return end_epoch();
}

Status Trainer::take_step(const Batch& b, SteadyClock::time_point wait_start, SteadyClock::time_point data_ready) {
  lr_ = schedule_.at(state_.global_step);
  StepRecord record;
  record.samples = static_cast<int64_t>(b.labels.size());
  record.wait_start = wait_start;
  record.data_ready = data_ready;
  if (Status s = backend_->step({b, lr_, state_, ctx_}, record); !s) return s;
  if (balancer_) balancer_->record(record.samples, record.compute_seconds());
  if (Status s = end_step(b, record.loss); !s) return s;  // on the device the loss is added at the epoch's end
  reporter_->step(record, state_, steps_per_epoch_);
  if (elastic_ && state_.global_step % config_.commit_every == 0)
    if (Status s = commit(); !s) return s;
  if (balancer_ && balancer_->decisions() == 0 && balancer_->recorded_steps() >= config_.balance_warmup_steps) {
    // The end of the warm-up: the new split starts with the epoch's next batch.
    if (Status s = rebalance(); !s) return s;
    loader_->start_epoch(state_.epoch, state_.batch_in_epoch);
  }
  return Status::ok();
}

// Every step's bookkeeping: position, the epoch's sums and --checkpoint-every.
Status Trainer::end_step(const Batch& b, const LossResult& loss) {
  const auto n = static_cast<int64_t>(b.labels.size());
  ++state_.global_step;
  state_.rng = dropout_rng_.state();  // the state as of this step (elastic: what a change goes on from)
  state_.batch_in_epoch = b.index + 1;
  state_.epoch_loss_sum += loss.loss * static_cast<double>(n);
  state_.epoch_samples += n;
  state_.epoch_correct += loss.correct;
  if (config_.checkpoint_every > 0 && state_.global_step % config_.checkpoint_every == 0 &&
      state_.batch_in_epoch < steps_per_epoch_) {
    if (Status s = fold_device_sums(); !s) return s;
    return checkpoint();
  }
  return Status::ok();
}

// The sums a device keeps (waits for its steps), folded into the epoch's.
Status Trainer::fold_device_sums() {
  auto sums = backend_->take_train_sums();
  if (!sums) return sums.status();
  if (sums->count == 0 && sums->loss_sum == 0) return Status::ok();
  state_.epoch_loss_sum += sums->loss_sum;
  state_.epoch_correct += static_cast<int64_t>(std::llround(sums->correct));
  if (!std::isfinite(sums->loss_sum))
    return Status(StatusCode::kAborted,
                  fmt::format("training diverged: the loss is {} in epoch {} (by step {}); lower --lr or add "
                              "--warmup-epochs",
                              sums->loss_sum, state_.epoch + 1, state_.global_step));
  return Status::ok();
}

Status Trainer::end_epoch() {
  if (Status s = fold_device_sums(); !s) return s;
  const double epoch_seconds = reporter_->end_epoch_timing();
  train_seconds_ += epoch_seconds;
  // The epoch's figures over all ranks.
  std::array<double, 4> sums = {state_.epoch_loss_sum, static_cast<double>(state_.epoch_samples),
                                static_cast<double>(state_.epoch_correct),
                                static_cast<double>(reporter_->epoch_samples())};
  if (Status s = sum_over_ranks(comm_, sums, "summing the epoch's training metrics"); !s) return s;
  trained_samples_ += static_cast<int64_t>(sums[3]);
  EpochReport report;
  if (Status s = evaluate_and_check(report.checksum); !s) return s;
  report.epoch = state_.epoch + 1;
  report.step = state_.global_step;
  report.loss = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
  report.train_accuracy = sums[1] > 0 ? sums[2] / sums[1] : 0.0;
  report.lr = lr_;
  report.samples_per_second = epoch_seconds > 0 ? sums[3] / epoch_seconds : 0.0;
  report.eval = eval_;
  report.complete = state_.batch_in_epoch >= steps_per_epoch_;
  report.world = world_;
  report.total_steps = max_steps_;
  state_.best_accuracy = std::max(state_.best_accuracy, eval_.accuracy());
  reporter_->epoch(report);
  summary_.loss = report.loss;
  if (report.complete) {
    ++state_.epoch;
    state_.batch_in_epoch = 0;
    state_.epoch_loss_sum = 0.0;
    state_.epoch_samples = state_.epoch_correct = 0;
    ++summary_.epochs_completed;
  }
  if (Status s = checkpoint(); !s) return s;
  if (balancer_ && balancer_->recorded_steps() >= config_.balance_warmup_steps && state_.global_step < run_until_)
    return rebalance();
  return Status::ok();
}

// The test set's sums over all ranks, and (data-parallel) that every replica holds the same
// parameters.
Status Trainer::evaluate_and_check(std::optional<uint64_t>& checksum) {
  if (evaluating_) {
    auto e = backend_->evaluate(*test_loader_);
    if (!e) return e.status();
    std::array<double, 3> sums = {e->loss_sum, e->correct, e->count};
    if (Status s = sum_over_ranks(comm_, sums, "summing the evaluation"); !s) return s;
    eval_ = {sums[0], sums[1], sums[2]};
  }
  if (!comm_ || world_ == 1) return Status::ok();
  if (Status s = backend_->to_host(); !s) return s;
  auto agreed = check_replicas_agree(*comm_, model_->params());
  if (!agreed) return agreed.status().with_context(fmt::format("after epoch {}", state_.epoch + 1));
  checksum = *agreed;
  return Status::ok();
}

Status Trainer::checkpoint() {
  if (config_.checkpoint_dir.empty() || !leader_) return Status::ok();
  if (Status s = backend_->to_host(); !s) return s;
  state_.rng = dropout_rng_.state();
  return save_checkpoint(config_.checkpoint_dir, *model_, *optimizer_, state_, config_.keep_checkpoints);
}

// --balance auto: share the measured speeds and apply the new split from the next batch on.
Status Trainer::rebalance() {
  auto next = balancer_->decide(*comm_);
  if (!next) return next.status();
  if (!*next) return Status::ok();
  rank_batches_ = **next;
  loader_->set_shard_batches(rank_batches_);
  if (leader_) {
    std::vector<std::string> speeds;
    for (double v : balancer_->speeds()) speeds.push_back(fmt::format("{:.0f}", v));
    spdlog::info("balance: per-rank batch sizes now {} (measured samples per compute second: {})",
                 join_batches(rank_batches_), fmt::join(speeds, ", "));
  }
  return Status::ok();
}

Status Trainer::join_generation() {
  auto comm = elastic_->join();
  if (!comm) return comm.status();
  comm_ = *comm;
  world_ = comm_->size();
  rank_ = comm_->rank();
  leader_ = rank_ == 0;
  evaluating_ = config_.evaluate;
  if (reporter_) reporter_->rebind(rank_, world_);
  spdlog::info("elastic: generation {}: {} member(s) ({}), rank {} here", elastic_->generation(), world_,
               fmt::join(elastic_->members(), ", "), rank_);
  return Status::ok();
}

// Every member takes the state of the member furthest along: the most steps completed, then (at an
// epoch's end) the epoch closed, then the lowest rank. Data-parallel replicas are identical after
// every completed step, so that state is the group's newest consistent one and nothing older is
// kept: a member that failed inside step s+1's allreduce is at s, one whose allreduce completed
// before the peer died is at s+1, and all go on from s+1. A new member takes it whole. The first
// generation takes rank 0's (fresh or resumed from disk), as broadcast_start does.
Status Trainer::adopt_generation() {
  std::vector<int64_t> positions(2 * static_cast<std::size_t>(world_));  // (step, epoch) per rank
  const std::array<int64_t, 2> mine = {state_.global_step, state_.epoch};
  if (Status s = comm_->allgather(mine.data(), positions.data(), 2, collectives::DataType::kInt64); !s)
    return s.with_context("elastic: comparing steps");
  const auto position = [&](int r) {
    const auto i = 2 * static_cast<std::size_t>(r);
    return std::pair(positions[i], positions[i + 1]);
  };
  int donor = 0;
  for (int r = 1; r < world_; ++r)
    if (position(r) > position(donor)) donor = r;
  // The epoch's training sums of the members that trained in the group in the donor's epoch (each
  // holds its share; a lost member's goes with it), so the epoch line goes on counting them; rank 0
  // holds the total.
  std::array<double, 3> sums = {0.0, 0.0, 0.0};
  if ((in_group_ && state_.epoch == position(donor).second) || rank_ == donor)
    sums = {state_.epoch_loss_sum, static_cast<double>(state_.epoch_samples), static_cast<double>(state_.epoch_correct)};
  if (Status s = sum_over_ranks(comm_, sums, "elastic: summing the epoch's training metrics"); !s) return s;
  std::string encoded;
  if (rank_ == donor) encoded = encode_checkpoint(*model_, *optimizer_, state_);
  if (Status s = broadcast_state(*comm_, donor, encoded, *model_, *optimizer_, state_); !s) return s;
  if (world_ > 1) {  // every member holds the donor's replica, bit for bit, before it trains on
    auto agreed = check_replicas_agree(*comm_, model_->params());
    if (!agreed) return agreed.status().with_context(fmt::format("elastic generation {}", elastic_->generation()));
    spdlog::info("elastic: generation {} starts at step {} from rank {}'s state; replicas agree (checksum {:016x})",
                 elastic_->generation(), state_.global_step, donor, *agreed);
  }
  state_.epoch_loss_sum = leader_ ? sums[0] : 0.0;
  state_.epoch_samples = leader_ ? static_cast<int64_t>(sums[1]) : 0;
  state_.epoch_correct = leader_ ? static_cast<int64_t>(sums[2]) : 0;
  dropout_rng_.set_state(state_.rng);
  in_group_ = true;
  return Status::ok();
}

// A commit point, every --commit-every steps: the members agree whether a worker waits to join
// (then they move to the next generation together, losing nothing). The state itself needs no
// copy (adopt_generation).
Status Trainer::commit() {
  const auto began = SteadyClock::now();
  auto waiting = elastic_->joiner_waiting();
  ++commits_;
  commit_seconds_ += seconds_since(began);
  if (!waiting) return waiting.status();
  if (*waiting) return Status(StatusCode::kUnavailable, "a worker waits to join the group");
  return Status::ok();
}

Status Trainer::recover(Status cause) {
  const auto began = SteadyClock::now();
  const int64_t before = state_.global_step;
  for (;;) {  // until a generation forms and adopts a state; a member lost meanwhile starts it over
    if (++restarts_ > config_.max_restarts)
      return cause.with_context(fmt::format("elastic: membership change {} is more than --max-restarts {}", restarts_,
                                            config_.max_restarts));
    spdlog::warn("elastic: generation {} ends ({}) at step {}; meeting again", elastic_->generation(), cause.message(),
                 state_.global_step);
    backend_.reset();  // it holds the old communicator
    elastic_->abandon();
    comm_ = nullptr;
    Status s = join_generation();
    if (s) {
      auto backend = make_step_backend(config_, *model_, *optimizer_, world_ > 1 ? comm_ : nullptr, nullptr);
      if (!backend) return backend.status();
      backend_ = std::move(*backend);
      if (loader_)
        if (Status l = open_loaders(); !l) return l;
      s = adopt_generation();
    }
    if (s) break;
    if (!is_membership_failure(s)) return s.with_context("elastic: after " + cause.message());
    cause = s;
  }
  const auto ended = SteadyClock::now();
  const int64_t lost = std::max<int64_t>(0, before - state_.global_step);
  spdlog::info("elastic: training again at step {} in generation {} with {} member(s), {:.0f} ms after the change, "
               "{} step(s) rolled back",
               state_.global_step, elastic_->generation(), world_,
               std::chrono::duration<double, std::milli>(ended - began).count(), lost);
  if (reporter_) reporter_->membership_change(elastic_->generation(), world_, lost, began, ended, cause.message());
  return Status::ok();
}

Result<TrainSummary> Trainer::finish() {
  const bool left_early = elastic_ && state_.global_step < max_steps_;  // --stop-at-step in a group
  if (elastic_ && !left_early) elastic_->mark_finished();  // a joiner has nothing to wait for
  if (elastic_ && commits_ > 0 && train_seconds_ > 0)  // what --commit-every costs (docs/elastic.md)
    spdlog::info("elastic: {} commit(s) every {} steps, {:.2f} ms each, {:.1f}% of the training time", commits_,
                 config_.commit_every, 1e3 * commit_seconds_ / static_cast<double>(commits_),
                 100.0 * commit_seconds_ / train_seconds_);
  // The timeline is gathered over the ranks; a worker that left its group has none to gather with.
  if (!left_early)
    if (Status s = reporter_->write_timeline(comm_); !s) return s;
  if (Status s = backend_->finish(); !s) return s;
  TrainSummary& summary = summary_;
  summary.global_step = state_.global_step;
  summary.accuracy = eval_.accuracy();
  summary.test_loss = eval_.loss();
  summary.best_accuracy = state_.best_accuracy;
  summary.wall_seconds = seconds_since(start_);
  summary.samples_per_second = train_seconds_ > 0 ? static_cast<double>(trained_samples_) / train_seconds_ : 0.0;
  summary.world_size = world_;
  summary.parameters = model_->param_count();
  if (world_ > 1)
    summary.rank_batches = rank_batches_.empty()
                               ? std::vector<int64_t>(static_cast<std::size_t>(world_), config_.batch_size)
                               : rank_batches_;
  reporter_->fill_step_times(summary, backend_->wait_time(), train_seconds_);
  const bool split = config_.balance.kind != BalanceSpec::Kind::kNone && world_ > 1;
  reporter_->summary(summary, model_->spec(), state_.epoch, backend_->wait_name(), backend_->note(),
                     split ? join_batches(summary.rank_batches) : std::string());
  return summary;
}

Result<TrainSummary> run_training(const TrainConfig& config, std::FILE* out, collectives::Communicator* comm,
                                  ParameterService* ps, ElasticGroup* elastic) {
  Trainer trainer(config, out, comm, ps, elastic);
  if (Status s = trainer.prepare(); !s) return s;
  if (Status s = trainer.run(); !s) return s;
  return trainer.finish();
}

}  // namespace ringmaster::worker
