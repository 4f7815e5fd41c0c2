// `ringmaster train`: flags -> worker::TrainConfig -> worker::run_training.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/commands.h"

namespace ringmaster::cli {

void add_train_command(CLI::App& app, TrainOptions& o) {
  CLI::App* cmd = app.add_subcommand("train", "Train a model on Fashion-MNIST (or synthetic data) on this process");
  // As with argparse, a flag given twice takes its last value, so a trial template or a wrapper
  // script can append overrides to a command.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  worker::TrainConfig& c = o.config;
  cmd->add_option("--model", c.model, "mlp, mlp:784-512-256-10, cnn or cnn:C1-C2-F")->capture_default_str();
  cmd->add_option("--dropout", c.dropout, "dropout probability after hidden fully connected layers")
      ->capture_default_str();
  cmd->add_option("--dataset", c.dataset, "fashion-mnist or synthetic")->capture_default_str();
  cmd->add_option("--data-dir", c.data_dir, "directory with the Fashion-MNIST IDX files")->capture_default_str();
  cmd->add_option("--train-limit", c.train_limit, "use only the first N training samples (0: all)");
  cmd->add_option("--test-limit", c.test_limit, "evaluate on the first N test samples (0: all)");
  cmd->add_option("--synthetic-samples", c.synthetic_samples, "training samples of --dataset synthetic")
      ->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "epochs to train")->capture_default_str();
  cmd->add_option("--steps", c.steps, "stop after this many optimizer steps in total (overrides --epochs)");
  cmd->add_option("--stop-at-step", c.stop_at_step,
                  "leave after global step N with a checkpoint, keeping the run's length and schedule (--resume "
                  "continues)");
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
  cmd->add_option("--threads", c.threads, "OpenBLAS threads (1 by default: replicas share the machine)")
      ->capture_default_str();
  cmd->add_option("--seed", c.seed, "initialization, data order and dropout seed")->capture_default_str();
  cmd->add_option("--checkpoint-dir", c.checkpoint_dir, "write checkpoints here (every epoch end and --checkpoint-every)");
  cmd->add_option("--checkpoint-every", c.checkpoint_every, "also checkpoint every N steps");
  cmd->add_option("--keep-checkpoints", c.keep_checkpoints, "checkpoints to keep")->capture_default_str();
  cmd->add_flag("--resume", c.resume, "continue from the newest usable checkpoint in --checkpoint-dir, if any");
  cmd->add_option("--metrics-file", c.metrics_file, "append per-epoch metrics as JSON lines");
  cmd->add_option("--progress", c.progress, "auto (a bar on a terminal), bar or lines")->capture_default_str();
  cmd->add_flag("!--no-eval", c.evaluate, "skip evaluation on the test set");
  cmd->add_option("--strategy", o.strategy, "local, allreduce or ps")->capture_default_str();
}

int run_train(const TrainOptions& o) {
  if (o.strategy != "local" && o.strategy != "allreduce" && o.strategy != "ps") {
    std::fprintf(stderr, "ringmaster train: --strategy: expected local, allreduce or ps, found \"%s\"\n",
                 o.strategy.c_str());
    return 2;
  }
  if (o.strategy != "local") {
    // Distributed strategies arrive with their issues; a world of one is plain local training, as
    // a Horovod program run without horovodrun.
    const char* world = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (!world) world = std::getenv("WORLD_SIZE");
    if (o.strategy == "ps" || (world && std::string(world) != "1")) {
      std::fprintf(stderr,
                   "ringmaster train: --strategy=%s with more than one replica is not implemented yet (this build "
                   "trains one process; see README.md, 'Not done yet')\n",
                   o.strategy.c_str());
      return 2;
    }
    spdlog::info("--strategy={} with a world of one process: training locally", o.strategy);
  }
  auto r = worker::run_training(o.config, stdout);
  if (!r) {
    std::fprintf(stderr, "ringmaster train: %s\n", r.status().message().c_str());
    return r.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace ringmaster::cli
