// Real processes through the seam: exit codes, signals, logs, start failures, and that nothing is
// left behind, even when the launcher itself is killed with SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "launcher/devices.h"
#include "launcher/process.h"

using namespace ringmaster;
using namespace ringmaster::launcher;
using namespace std::chrono_literals;

namespace {

std::string tmp_log(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("rm_proc_" + std::to_string(::getpid()) + "_" + name)).string();
}

ExitStatus wait_for(Processes& p, int h, std::chrono::seconds limit = 20s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (auto e = p.poll(h)) return *e;
    std::this_thread::sleep_for(5ms);
  }
  ADD_FAILURE() << "process did not end";
  return {};
}

// Number of processes whose whole command line is `command` (arguments joined by spaces).
int count_with(const std::string& command) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmd(entry.path() / "cmdline");
    std::string line;
    std::getline(cmd, line, '\0');
    std::string all = line;
    while (std::getline(cmd, line, '\0')) all += " " + line;
    if (all == command) ++n;
  }
  return n;
}

bool eventually_none(const std::string& command) {
  for (int i = 0; i < 400; ++i) {
    if (count_with(command) == 0) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace

TEST(Processes, ExitCodeLogAndEnvironment) {
  auto p = real_processes();
  const std::string log = tmp_log("exit");
  auto h = p->start({{"sh", "-c", "echo hello $RM_TEST_VAR; echo oops >&2; exit 3"}, {{"RM_TEST_VAR", "world"}}, "", log, {}, ""});
  ASSERT_TRUE(h.is_ok()) << h.status().message();
  ExitStatus e = wait_for(*p, *h);
  EXPECT_EQ(e.code, 3);
  EXPECT_EQ(e.signal, 0);
  EXPECT_EQ(e.describe(), "exit code 3");
  EXPECT_EQ(read_file(log).value(), "hello world\noops\n");
  std::filesystem::remove(log);
}

TEST(Processes, CpuAffinityIsApplied) {
  const std::vector<int> allowed = allowed_cpus();
  ASSERT_FALSE(allowed.empty());
  auto p = real_processes();
  const std::string log = tmp_log("cpus");
  auto h = p->start({{"sh", "-c", "grep Cpus_allowed_list /proc/self/status"}, {}, "", log, {allowed.back()}, ""});
  ASSERT_TRUE(h.is_ok()) << h.status().message();
  EXPECT_TRUE(wait_for(*p, *h).success());
  EXPECT_EQ(read_file(log).value(), "Cpus_allowed_list:\t" + std::to_string(allowed.back()) + "\n");
  std::filesystem::remove(log);
}

TEST(Processes, WorkingDirectoryIsUsed) {
  auto p = real_processes();
  const std::string log = tmp_log("cwd");
  auto h = p->start({{"sh", "-c", "pwd"}, {}, "/usr/share", log, {}, ""});
  ASSERT_TRUE(h.is_ok());
  EXPECT_TRUE(wait_for(*p, *h).success());
  std::ifstream in(log);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "/usr/share");
  std::filesystem::remove(log);
}

TEST(Processes, ACommandThatCannotStartIsAnErrorNamingIt) {
  auto p = real_processes();
  auto h = p->start({{"/no/such/command", "x"}, {}, "", "", {}, ""});
  ASSERT_FALSE(h.is_ok());
  EXPECT_EQ(h.status().message(), "cannot start /no/such/command: No such file or directory");
  auto d = p->start({{"true"}, {}, "/no/such/dir", "", {}, ""});
  ASSERT_FALSE(d.is_ok());
  EXPECT_EQ(d.status().message(), "cannot start true in /no/such/dir: No such file or directory");
}

TEST(Processes, SignalsReachTheReplicaAndItsStatusSaysSo) {
  auto p = real_processes();
  auto h = p->start({{"sh", "-c", "sleep 30"}, {}, "", "", {}, ""});
  ASSERT_TRUE(h.is_ok());
  std::this_thread::sleep_for(100ms);
  p->signal(*h, SIGTERM);
  ExitStatus e = wait_for(*p, *h);
  EXPECT_EQ(e.signal, SIGTERM);
  EXPECT_EQ(e.container_code(), 143);
  EXPECT_EQ(e.describe(), "killed by SIGTERM (143)");
}

TEST(Processes, KillingAReplicaLeavesNoneOfItsChildren) {
  auto p = real_processes();
  const std::string marker = "3000.1" + std::to_string(::getpid() % 1000);
  auto h = p->start({{"sh", "-c", "sleep " + marker + " & sleep " + marker + " & wait"}, {}, "", "", {}, ""});
  ASSERT_TRUE(h.is_ok());
  for (int i = 0; i < 200 && count_with("sleep " + marker) < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(count_with("sleep " + marker), 2);
  p->signal(*h, SIGKILL);
  ExitStatus e = wait_for(*p, *h);
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_TRUE(eventually_none("sleep " + marker));
}

TEST(Processes, AReplicaThatExitsTakesItsBackgroundChildrenWithIt) {
  auto p = real_processes();
  const std::string marker = "3000.2" + std::to_string(::getpid() % 1000);
  auto h = p->start({{"sh", "-c", "sleep " + marker + " & exit 0"}, {}, "", "", {}, ""});
  ASSERT_TRUE(h.is_ok());
  EXPECT_TRUE(wait_for(*p, *h).success());
  EXPECT_TRUE(eventually_none("sleep " + marker));
}

TEST(Processes, LauncherKilledWithSigkillLeavesNoReplicaBehind) {
  const std::string marker = "3000.3" + std::to_string(::getpid() % 1000);
  const pid_t launcher = ::fork();
  if (launcher == 0) {
    auto p = real_processes();
    auto h = p->start({{"sh", "-c", "sleep " + marker + " & sleep " + marker + " & wait"}, {}, "", "", {}, ""});
    if (!h) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  for (int i = 0; i < 300 && count_with("sleep " + marker) < 2; ++i) std::this_thread::sleep_for(10ms);
  const int started = count_with("sleep " + marker);
  ::kill(launcher, SIGKILL);
  ::waitpid(launcher, nullptr, 0);
  ASSERT_EQ(started, 2);
  EXPECT_TRUE(eventually_none("sleep " + marker)) << count_with("sleep " + marker) << " left";
}
