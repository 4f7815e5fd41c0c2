#include "bench/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/socket.h"
#include "common/subprocess.h"

namespace ringmaster::bench {

std::string self_exe() { return fmt::format("/proc/{}/exe", ::getpid()); }

Result<double> run_peer_samples_per_sec(const std::vector<std::string>& argv, const Env& env) {
  auto text = run_capturing(argv, env, /*discard_stderr=*/false);
  if (!text) return text.status();
  try {
    return nlohmann::json::parse(text->substr(text->rfind('{'))).at("samples_per_sec").get<double>();
  } catch (const std::exception& e) {
    return internal_error(std::string("unreadable output: ") + e.what());
  }
}

std::string peer_python() { return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"; }

Result<std::string> run_capturing(const std::vector<std::string>& argv,
                                  const std::vector<std::pair<std::string, std::string>>& env, bool discard_stderr) {
  CommandSpec spec{argv, env, "", discard_stderr ? CommandSpec::Stderr::kDiscard : CommandSpec::Stderr::kInherit};
  auto r = run_command(spec);
  if (!r) return r.status();
  if (!r->ok())
    return internal_error(fmt::format("{} failed ({})", argv.empty() ? "child" : argv[0],
                                      r->exit_code > 128 ? fmt::format("signal {}", r->exit_code - 128)
                                                         : fmt::format("exit status {}", r->exit_code)));
  return std::move(r->out);
}

std::vector<std::string> mpirun_argv(int ranks) {
  std::vector<std::string> argv = {"mpirun", "--allow-run-as-root", "-np", std::to_string(ranks), "--bind-to", "none"};
  if (static_cast<unsigned>(ranks) > std::max(1u, std::thread::hardware_concurrency()))
    argv.push_back("--oversubscribe");
  return argv;
}

std::vector<Result<std::string>> run_local_ranks(const std::vector<std::string>& argv, int ranks, const Env& env) {
  int port = 0;
  if (auto listener = ringmaster::listen_tcp("127.0.0.1", 0)) port = ringmaster::local_port(listener->get());
  std::vector<Result<std::string>> out(static_cast<std::size_t>(ranks), std::string());
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      Env e = {{"RANK", std::to_string(r)}, {"WORLD_SIZE", std::to_string(ranks)}, {"MASTER_ADDR", "127.0.0.1"},
               {"MASTER_PORT", std::to_string(port)}};
      e.insert(e.end(), env.begin(), env.end());
      out[static_cast<std::size_t>(r)] = run_capturing(argv, e);
    });
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace ringmaster::bench
