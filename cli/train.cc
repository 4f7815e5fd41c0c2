// `ringmaster train`: flags -> worker::TrainConfig -> worker::run_training.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "common/strings.h"
#include "cli/commands.h"
#include "collectives/factory.h"
#include "collectives/store.h"
#include "common/deadline.h"
#include "worker/elastic.h"

namespace ringmaster::cli {
namespace {

// A flag whose value is parsed once, here, into its typed setting: `parse` (a worker::parse_*)
// names the flag in its error, which CLI11 reports as a usage error (exit 2).
template <typename T, typename Parse>
CLI::Option* add_typed_option(CLI::App* cmd, const std::string& flag, T& target, Parse parse,
                              std::string_view default_text, const std::string& help) {
  return cmd
      ->add_option_function<std::string>(
          flag,
          [&target, parse, flag](const std::string& v) {
            auto parsed = parse(v);
            if (!parsed) {
              std::string message = parsed.status().message();
              if (message.starts_with(flag + ": ")) message.erase(0, flag.size() + 2);
              throw CLI::ValidationError(flag, message);
            }
            target = *parsed;
          },
          help)
      ->default_str(std::string(default_text));
}

Result<Strategy> parse_strategy(std::string_view text) {
  if (text == "local") return Strategy::kLocal;
  if (text == "allreduce") return Strategy::kAllreduce;
  if (text == "ps") return Strategy::kPs;
  return invalid_argument(fmt::format("--strategy: expected local, allreduce or ps, found \"{}\"", text));
}

// --model, --dropout and the data set.
void add_model_and_data_flags(CLI::App* cmd, worker::TrainConfig& c) {
  cmd->add_option("--model", c.model, "mlp, mlp:784-512-256-10, cnn or cnn:C1-C2-F")->capture_default_str();
  cmd->add_option("--dropout", c.dropout, "dropout probability after hidden fully connected layers")
      ->capture_default_str();
  add_typed_option(cmd, "--dataset", c.dataset, worker::parse_data_source, worker::name_of(c.dataset),
                   "fashion-mnist or synthetic");
  cmd->add_option("--data-dir", c.data_dir, "directory with the Fashion-MNIST IDX files")->capture_default_str();
  cmd->add_option("--train-limit", c.train_limit, "use only the first N training samples (0: all)");
  cmd->add_option("--test-limit", c.test_limit, "evaluate on the first N test samples (0: all)");
  cmd->add_option("--synthetic-samples", c.synthetic_samples, "training samples of --dataset synthetic")
      ->capture_default_str();
}

// The run's length, the optimizer and the learning-rate schedule.
void add_schedule_flags(CLI::App* cmd, worker::TrainConfig& c) {
  cmd->add_option("--epochs", c.epochs, "epochs to train")->capture_default_str();
  cmd->add_option("--steps", c.steps, "stop after this many optimizer steps in total (overrides --epochs)");
  cmd->add_option("--stop-at-step", c.stop_at_step,
                  "leave after global step N with a checkpoint, keeping the run's length and schedule (--resume "
                  "continues)");
  cmd->add_option("--extra-epochs", c.extra_epochs,
                  "continue from the newest checkpoint in --checkpoint-dir (if any) for N more epochs, with this "
                  "run's --lr, --momentum and schedule (Population Based Training's generations)");
  cmd->add_option("--batch-size", c.batch_size, "samples per step")->capture_default_str();
  cmd->add_option("--optimizer", c.optimizer.name, "sgd or adam")->capture_default_str();
  cmd->add_option("--lr", c.lr, "learning rate (default: sgd 0.05, adam 0.001)");
  cmd->add_option("--momentum", c.optimizer.momentum, "SGD momentum")->capture_default_str();
  cmd->add_flag("--nesterov", c.optimizer.nesterov, "Nesterov momentum");
  cmd->add_option("--weight-decay", c.optimizer.weight_decay, "L2 weight decay")->capture_default_str();
  cmd->add_option("--adam-beta1", c.optimizer.beta1)->capture_default_str();
  cmd->add_option("--adam-beta2", c.optimizer.beta2)->capture_default_str();
  cmd->add_option("--adam-epsilon", c.optimizer.epsilon)->capture_default_str();
  cmd->add_option("--lr-schedule", c.lr_schedule, "constant, step or cosine")->capture_default_str();
  cmd->add_option("--warmup-epochs", c.warmup_epochs, "linear warm-up length in epochs (fractions allowed)");
  cmd->add_option("--lr-step-epochs", c.lr_step_epochs, "step schedule: multiply by --lr-gamma every N epochs");
  cmd->add_option("--lr-gamma", c.lr_gamma, "step schedule factor")->capture_default_str();
  cmd->add_option("--min-lr", c.min_lr, "cosine schedule floor")->capture_default_str();
}

// Device, threads, seed, checkpoints and what the run reports.
void add_machine_and_output_flags(CLI::App* cmd, worker::TrainConfig& c) {
  add_typed_option(cmd, "--device", c.device, worker::parse_device, worker::name_of(c.device),
                   "cpu, or cuda (a GPU; an error where there is none)");
  add_typed_option(cmd, "--precision", c.precision, worker::parse_precision, worker::name_of(c.precision),
                   "--device cuda GEMMs: fp32, tf32 or bf16 (float32 accumulation)");
  cmd->add_flag("!--no-cuda-graphs", c.cuda_graphs, "--device cuda: launch every kernel of every step (no CUDA graph)");
  cmd->add_option("--gpu", c.gpu, "--device cuda: GPU index (default: the local rank modulo the visible GPUs)");
  cmd->add_option("--threads", c.threads, "compute threads of oneDNN and OpenBLAS (1 by default: replicas share the machine)")
      ->capture_default_str();
  cmd->add_option("--seed", c.seed, "initialization, data order and dropout seed")->capture_default_str();
  cmd->add_option("--checkpoint-dir", c.checkpoint_dir, "write checkpoints here (every epoch end and --checkpoint-every)");
  cmd->add_option("--checkpoint-every", c.checkpoint_every, "also checkpoint every N steps");
  cmd->add_option("--keep-checkpoints", c.keep_checkpoints, "checkpoints to keep")->capture_default_str();
  cmd->add_flag("--resume", c.resume, "continue from the newest usable checkpoint in --checkpoint-dir, if any");
  cmd->add_option("--metrics-file", c.metrics_file, "append per-epoch metrics as JSON lines");
  cmd->add_option("--metrics-step-seconds", c.metrics_step_seconds,
                  "also append, every this many seconds, a record of the steps since the last one (loss, "
                  "samples/s, compute / allreduce / data-wait ms per step)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--timeline", c.timeline,
                  "write a Chrome trace (chrome://tracing, Perfetto) of every rank's data wait, compute and "
                  "gradient allreduce per step to FILE (rank 0 writes it)");
  cmd->add_option("--metrics-port", c.metrics_port,
                  "serve Prometheus metrics (samples/s, step, allreduce and data wait time, loss) on PORT + rank; "
                  "0 picks a free port (logged)");
  cmd->add_option("--metrics-address", c.metrics_address, "address of the metrics endpoint")->capture_default_str();
  add_typed_option(cmd, "--progress", c.progress, worker::parse_progress, worker::name_of(c.progress),
                   "auto (a bar on a terminal), bar or lines");
  cmd->add_flag("!--no-eval", c.evaluate, "skip evaluation on the test set");
}

// How the replicas train together: allreduce (backend, buckets, --balance) or parameter servers.
void add_distribution_flags(CLI::App* cmd, TrainOptions& o) {
  worker::TrainConfig& c = o.config;
  add_typed_option(cmd, "--strategy", o.strategy, parse_strategy, "local",
                   "local, allreduce (data-parallel over the ranks that mpirun, a PyTorchJob or `ringmaster run` "
                   "started) or ps");
  cmd->add_option("--collectives", o.collectives,
                  "allreduce backend: auto (shm when all ranks share this host, else tcp), tcp, shm, mpi or nccl "
                  "(default: $RINGMASTER_COLLECTIVES, else auto)");
  cmd->add_option("--collective-timeout", o.collective_timeout,
                  "seconds to wait for the other ranks, at the rendezvous and in every collective (default: "
                  "$RINGMASTER_TIMEOUT_SECONDS, else 60)");
  cmd->add_option("--bucket-kib", o.bucket_kib, "gradient bucket size: allreduces start as backward fills each")
      ->capture_default_str();
  add_typed_option(cmd, "--balance", c.balance, worker::parse_balance, worker::name_of(c.balance),
                  "per-rank batch sizes: none (--batch-size on every rank), auto (in proportion to each rank's "
                  "measured speed, after --balance-warmup-steps and after every epoch) or B0,B1,... adding up to "
                  "ranks x --batch-size; the update is the same as with equal batches");
  cmd->add_option("--balance-warmup-steps", c.balance_warmup_steps, "steps measured before --balance auto first decides")
      ->capture_default_str();
  cmd->add_option_function<std::string>(
      "--slow-rank",
      [&c](const std::string& v) {
        const auto colon = v.find(':');
        const auto rank = colon == std::string::npos ? std::nullopt : parse_int<int>(std::string_view(v).substr(0, colon));
        const auto factor = colon == std::string::npos ? std::nullopt : parse_double(std::string_view(v).substr(colon + 1));
        if (!rank || !factor)
          throw CLI::ValidationError("--slow-rank", "expected RANK:FACTOR such as 1:3, found \"" + v + "\"");
        c.slow_rank = *rank;
        c.slow_factor = *factor;
      },
      "testing aid for --balance: rank RANK takes FACTOR times as long for its forward and backward passes "
      "(it sleeps the difference), as a slower device would");
  const char* ps = "Parameter server (--strategy ps)";
  cmd->add_option("--ps-hosts", o.ps_hosts, "the parameter servers' host:port list (default: cluster.ps of TF_CONFIG)")
      ->delimiter(',')
      ->group(ps);
  cmd->add_option("--worker-index", o.worker_index, "this worker's index with --ps-hosts (default: from TF_CONFIG)")
      ->group(ps);
  cmd->add_option("--num-workers", o.num_workers, "training workers in the job with --ps-hosts")->group(ps);
  cmd->add_option("--ps-mode", o.ps_mode,
                  "async (each push applied on arrival), sync (each step's gradients from all workers averaged "
                  "and applied once) or ssp (bounded staleness, with --staleness)")
      ->capture_default_str()
      ->group(ps);
  cmd->add_option("--staleness", o.staleness, "ssp: a worker at clock c waits until the slowest has pushed c - k steps")
      ->capture_default_str()
      ->group(ps);
  cmd->add_option("--ps-timeout", o.ps_timeout, "deadline of every parameter-server call, in seconds")
      ->capture_default_str()
      ->group(ps);
  cmd->add_option("--ps-reconnect", o.ps_reconnect, "seconds to wait for an unreachable (restarting) server")
      ->capture_default_str()
      ->group(ps);
  cmd->add_flag("--scale-lr", c.scale_lr, "multiply the learning rate by the number of ranks (with --warmup-epochs)");
  const char* elastic = "Elastic (--elastic MIN:MAX, docs/elastic.md)";
  cmd->add_option("--elastic", o.elastic,
                  "train in an elastic group of MIN to MAX workers meeting at RINGMASTER_RDZV_ENDPOINT (`ringmaster "
                  "rendezvous`): a lost worker or a new one changes the group without stopping it")
      ->group(elastic);
  cmd->add_option("--elastic-timeout", o.elastic_timeout,
                  "elastic: seconds the group may stay below MIN (waiting for workers to come back) before it fails")
      ->capture_default_str()
      ->group(elastic);
  cmd->add_option("--commit-every", c.commit_every, "elastic: every N steps the members check for a worker waiting to join (it joins there)")
      ->capture_default_str()
      ->group(elastic);
  cmd->add_option("--max-restarts", o.max_restarts,
                  "elastic: membership changes allowed, as torchrun counts them (default: PET_MAX_RESTARTS, else 10)")
      ->group(elastic);
}

}  // namespace

void add_train_command(CLI::App& app, TrainOptions& o) {
  CLI::App* cmd = app.add_subcommand("train", "Train a model on Fashion-MNIST (or synthetic data) on this process");
  // As with argparse, a flag given twice takes its last value, so a trial template or a wrapper
  // script can append overrides to a command.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  worker::TrainConfig& c = o.config;
  add_model_and_data_flags(cmd, c);
  add_schedule_flags(cmd, c);
  add_machine_and_output_flags(cmd, c);
  add_distribution_flags(cmd, o);
}

worker::TrainConfig replica_train_config(const TrainOptions& o) {
  worker::TrainConfig config = o.config;
  config.bucket_bytes = o.bucket_kib * 1024;
  // A replica of a `ringmaster run` job writes to a log (mpirun's pseudo-terminal included): no
  // bar redrawn in place there.
  if (config.progress == worker::Progress::kAuto && std::getenv("RINGMASTER_JOB_NAME"))
    config.progress = worker::Progress::kLines;
  // ... and its metrics go where the launcher says (launcher/job_dir.h), for the dashboard.
  // The launcher asks for per-step records too; a --metrics-file given by hand keeps its records
  // (a Katib File collector may read it) as they were.
  if (const char* file = std::getenv("RINGMASTER_METRICS_FILE"); config.metrics_file.empty() && file) {
    config.metrics_file = file;
    const char* every = std::getenv("RINGMASTER_METRICS_STEP_SECONDS");
    if (const auto s = parse_double(every ? every : ""); s && *s > 0 && config.metrics_step_seconds == 0)
      config.metrics_step_seconds = *s;
  }
  // The GPU of this process, when --gpu does not say: RINGMASTER_DEVICE, else the local rank.
  for (const char* name : {"RINGMASTER_DEVICE", "LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"})
    if (const std::optional<int> v = parse_int<int>(std::getenv(name) ? std::getenv(name) : "")) {
      config.local_rank = *v;
      break;
    }
  return config;
}

namespace {

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "ringmaster train: %s\n", message.c_str());
  return code;
}

// --collective-timeout; nullopt: the communicator's default (the flag's 0).
std::optional<std::chrono::milliseconds> collective_timeout(const TrainOptions& o) {
  if (o.collective_timeout <= 0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(o.collective_timeout * 1000));
}

// The environment's string, or "" when unset.
std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// --elastic MIN:MAX: the worker joins the group at the job's rendezvous store (docs/elastic.md).
// A PyTorchJob with an elasticPolicy (or a TrainJob) says the same as torchrun reads it:
// PET_NNODES=MIN:MAX, PET_RDZV_ENDPOINT, PET_MAX_RESTARTS.
int run_elastic_training(worker::TrainConfig config, const TrainOptions& o) {
  const std::string range_text = o.elastic.empty() ? env_or_empty("PET_NNODES") : o.elastic;
  auto range = worker::parse_elastic_range(range_text);
  if (!range) return fail(2, range.status().message());
  if (o.strategy != Strategy::kAllreduce) return fail(2, "--elastic: expected --strategy allreduce");
  if (std::getenv("OMPI_COMM_WORLD_SIZE"))
    return fail(2, "--elastic: mpirun fixed this world (OMPI_COMM_WORLD_SIZE is set); start elastic workers without "
                   "mpirun, each with RINGMASTER_RDZV_ENDPOINT");
  std::string endpoint = env_or_empty("RINGMASTER_RDZV_ENDPOINT");
  if (endpoint.empty()) endpoint = env_or_empty("PET_RDZV_ENDPOINT");
  const std::string token = env_or_empty("RINGMASTER_JOB_TOKEN");
  if (endpoint.empty())
    return fail(2, "--elastic: expected RINGMASTER_RDZV_ENDPOINT or PET_RDZV_ENDPOINT (host:port of the job's "
                   "`ringmaster rendezvous`; `ringmaster run` serves it for an elastic PyTorchJob), found none");
  if (token.empty()) return fail(2, "--elastic: expected RINGMASTER_JOB_TOKEN, found none");
  auto where = parse_endpoint(endpoint);
  if (!where) return fail(2, "rendezvous endpoint " + endpoint + ": " + where.status().message());
  if (o.max_restarts >= 0) {
    config.max_restarts = o.max_restarts;
  } else if (const std::string pet = env_or_empty("PET_MAX_RESTARTS"); !pet.empty()) {
    const auto v = parse_int<int>(pet);
    if (!v || *v < 0) return fail(2, "PET_MAX_RESTARTS: expected a count >= 0, found \"" + pet + "\"");
    config.max_restarts = *v;
  }
  worker::ElasticOptions eo;
  eo.min_workers = range->first;
  eo.max_workers = range->second;
  eo.token = token;
  if (!(o.elastic_timeout > 0)) return fail(2, fmt::format("--elastic-timeout: expected seconds > 0, found {}", o.elastic_timeout));
  eo.wait_for_min = std::chrono::milliseconds(static_cast<int64_t>(o.elastic_timeout * 1000));
  if (const std::string job = env_or_empty("RINGMASTER_JOB_NAME"); !job.empty()) eo.job = job;
  if (auto t = collective_timeout(o)) eo.communicator.timeout = *t;
  auto bind = collectives::local_address_towards(where->host);
  if (!bind) return fail(1, bind.status().message());
  eo.bind_host = *bind;
  auto store = collectives::connect_tcp_store(*where, {eo.token, eo.job, 0, 0},
                                              Deadline::after(eo.communicator.timeout));
  if (!store) return fail(1, "joining the rendezvous: " + store.status().message());
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  worker::ElasticGroup group(**store, fmt::format("{}:{}", host, ::getpid()), eo);
  auto r = worker::run_training(config, stdout, nullptr, nullptr, &group);
  if (!r && group.group_finished()) {
    spdlog::info("the elastic group finished training before this worker joined; nothing left to do");
    return 0;
  }
  if (!r) return fail(r.status().code() == StatusCode::kInvalidArgument ? 2 : 1, r.status().message());
  return 0;
}

}  // namespace

int run_train(const TrainOptions& o, int (*ps_training)(const TrainOptions&)) {
  if (o.strategy == Strategy::kPs) return ps_training(o);
  const worker::TrainConfig config = replica_train_config(o);
  if (o.collective_timeout < 0) {
    std::fprintf(stderr, "ringmaster train: --collective-timeout: expected seconds >= 0, found %g\n",
                 o.collective_timeout);
    return 2;
  }
  // Elastic by flag, or as torchrun reads a PyTorchJob's elasticPolicy: PET_NNODES=MIN:MAX.
  if (!o.elastic.empty() || (o.strategy == Strategy::kAllreduce && env_or_empty("PET_NNODES").find(':') != std::string::npos))
    return run_elastic_training(config, o);
  std::unique_ptr<collectives::Communicator> comm;
  if (o.strategy == Strategy::kAllreduce) {
    auto rendezvous = collectives::rendezvous_from_env([](const char* k) { return std::getenv(k); });
    if (!rendezvous) {
      std::fprintf(stderr, "ringmaster train: %s\n", rendezvous.status().message().c_str());
      return 2;
    }
    if (!o.collectives.empty()) {
      if (Status s = collectives::check_backend(o.collectives, "--collectives"); !s) {
        std::fprintf(stderr, "ringmaster train: %s\n", s.message().c_str());
        return 2;
      }
      rendezvous->backend = o.collectives;
    }
    if (auto t = collective_timeout(o)) rendezvous->options.timeout = *t;
    if (rendezvous->world_size == 1) {
      // A world of one is plain local training, as a Horovod program run without horovodrun.
      spdlog::info("--strategy=allreduce with a world of one process: training locally");
    } else {
      auto created = collectives::create(*rendezvous);
      if (!created) {
        std::fprintf(stderr, "ringmaster train: rank %d of %d: joining the job: %s\n", rendezvous->rank,
                     rendezvous->world_size, created.status().message().c_str());
        return 1;
      }
      comm = std::move(*created);
    }
  }
  auto r = worker::run_training(config, stdout, comm.get());
  if (!r) {
    if (comm)
      std::fprintf(stderr, "ringmaster train: rank %d of %d: %s\n", comm->rank(), comm->size(),
                   r.status().message().c_str());
    else
      std::fprintf(stderr, "ringmaster train: %s\n", r.status().message().c_str());
    return r.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace ringmaster::cli
