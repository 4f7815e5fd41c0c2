// Collectives across real processes (tests/collectives/rank_main.cc), joined through the
// environment the launcher sets, over tcp and under OpenMPI's mpirun (tcp bootstrapped through
// MPI, and the mpi backend).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/socket.h"

namespace {

struct Exit {
  int code = -1;       // exit status, or 128 + signal
  std::string stderr_text;
};

// Runs argv with extra environment, capturing stderr; kills it after `limit`.
struct Child {
  pid_t pid = -1;
  int err_fd = -1;
};

Child spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) std::abort();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  return {pid, pipefd[0]};
}

Exit finish(Child c, std::chrono::seconds limit) {
  Exit e;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (::waitpid(c.pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      e.stderr_text = "(killed: ran past the limit)\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  char buf[4096];
  ssize_t n;
  while ((n = ::read(c.err_fd, buf, sizeof buf)) > 0) e.stderr_text.append(buf, static_cast<std::size_t>(n));
  ::close(c.err_fd);
  e.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return e;
}

std::vector<Exit> run_world(int n, const std::vector<std::string>& args, const std::string& backend = "tcp",
                            std::chrono::seconds limit = std::chrono::seconds(60)) {
  const int port = ringmaster::free_loopback_port();
  std::vector<Child> children;
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> argv = {RANK_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    children.push_back(spawn(argv, {"RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(n),
                                    "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port),
                                    "RINGMASTER_JOB_TOKEN=multiproc-token", "RINGMASTER_JOB_NAME=multiproc",
                                    "RINGMASTER_COLLECTIVES=" + backend}));
  }
  std::vector<Exit> out;
  for (auto& c : children) out.push_back(finish(c, limit));
  return out;
}

}  // namespace

class Backends : public ::testing::TestWithParam<std::string> {};

TEST_P(Backends, EveryCollectiveForWorldSizesOneToEight) {
  for (int n : {1, 2, 3, 4, 8}) {
    auto exits = run_world(n, {"verify"}, GetParam());
    for (int r = 0; r < n; ++r) EXPECT_EQ(exits[r].code, 0) << "world " << n << " rank " << r << ": " << exits[r].stderr_text;
  }
}

TEST_P(Backends, KilledRankMidAllreduceFailsEveryOtherRankQuickly) {
  const auto start = std::chrono::steady_clock::now();
  auto exits = run_world(4, {"die", "2"}, GetParam(), std::chrono::seconds(60));
  EXPECT_EQ(exits[2].code, 128 + SIGKILL);
  for (int r : {0, 1, 3}) {
    EXPECT_EQ(exits[r].code, 1) << "rank " << r << ": " << exits[r].stderr_text;
    EXPECT_NE(exits[r].stderr_text.find("rank failed:"), std::string::npos) << exits[r].stderr_text;
  }
  // Well under the 10 s call timeout of the scenario: the death is noticed, not waited out.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_P(Backends, MismatchedCountIsAnErrorOnEveryRank) {
  auto exits = run_world(3, {"mismatch"}, GetParam());
  for (int r = 0; r < 3; ++r) EXPECT_EQ(exits[r].code, 1) << "rank " << r << " should fail";
  bool named = false;
  for (const auto& e : exits) named |= e.stderr_text.find("mismatched collectives") != std::string::npos;
  EXPECT_TRUE(named);
}

INSTANTIATE_TEST_SUITE_P(MultiProcess, Backends, ::testing::Values("tcp", "shm", "auto"));

TEST(MultiProcess, WrongTokenCannotJoin) {
  const int port = ringmaster::free_loopback_port();
  auto good = spawn({RANK_BINARY, "verify"}, {"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                                              "MASTER_PORT=" + std::to_string(port), "RINGMASTER_JOB_TOKEN=right",
                                              "RINGMASTER_TIMEOUT_SECONDS=3"});
  auto bad = spawn({RANK_BINARY, "verify"}, {"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                                             "MASTER_PORT=" + std::to_string(port), "RINGMASTER_JOB_TOKEN=wrong",
                                             "RINGMASTER_TIMEOUT_SECONDS=3"});
  Exit b = finish(bad, std::chrono::seconds(40));
  Exit g = finish(good, std::chrono::seconds(40));
  EXPECT_EQ(b.code, 1);
  EXPECT_NE(b.stderr_text.find("the job token does not match"), std::string::npos) << b.stderr_text;
  EXPECT_EQ(g.code, 1);  // rank 0 waits for a rank 1 that never joins, then times out
}

Exit mpirun_ranks(const std::string& backend, const std::string& scenario) {
  auto c = spawn({"mpirun", "--oversubscribe", "--allow-run-as-root", "-np", "3", "--bind-to", "none", "-x",
                  "RINGMASTER_COLLECTIVES", RANK_BINARY, scenario},
                 {"RINGMASTER_COLLECTIVES=" + backend, "OMPI_MCA_btl=self,tcp", "OMPI_MCA_btl_tcp_if_include=lo",
                  "OMPI_MCA_oob_tcp_if_include=lo",
                  // OpenMPI leaves its own allocations (in components it unloads) at exit.
                  "ASAN_OPTIONS=detect_leaks=0"});
  return finish(c, std::chrono::seconds(90));
}

TEST(MultiProcess, UnderMpirunTcpShmAndMpiBackends) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not installed";
  for (std::string backend : {"tcp", "shm", "mpi"}) {
    Exit e = mpirun_ranks(backend, "verify");
    EXPECT_EQ(e.code, 0) << backend << ": " << e.stderr_text;
  }
}

TEST(MultiProcess, MpiBackendRefusesMismatchedCalls) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not installed";
  Exit e = mpirun_ranks("mpi", "mismatch");
  EXPECT_NE(e.code, 0);
  EXPECT_NE(e.stderr_text.find("mismatched collectives: rank 1 is in allreduce #1 (float32 sum, 99 elements), but the "
                               "ranks disagree on the element count (from 99 to 100)"),
            std::string::npos)
      << e.stderr_text;
}
