// How a pod's status becomes an exit (k8s/cluster.h), from the fixture states the fake kubectl
// serves, and the subprocess helper kubectl calls go through.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/subprocess.h"
#include "k8s/cluster.h"
#include "k8s/kubectl.h"

namespace ringmaster::k8s {
namespace {

nlohmann::json pod_with_status(const std::string& fixture) {
  auto status = read_file(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fixtures/kubectl/pod-status/" + fixture + ".json");
  EXPECT_TRUE(status) << fixture;
  nlohmann::json pod = {{"metadata", {{"name", "p"}, {"uid", "u"}}}};
  pod["status"] = nlohmann::json::parse(status ? *status : "{}");
  return pod;
}

TEST(PodExit, RunningAndPendingPodsHaveNotEnded) {
  for (const char* f : {"pending", "running", "unschedulable", "image-pull-backoff"})
    EXPECT_FALSE(pod_exit(pod_with_status(f))) << f;
}

TEST(PodExit, SucceededIsExitZero) {
  auto e = pod_exit(pod_with_status("succeeded"));
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->success());
}

TEST(PodExit, OomKilledIs137AsSigkillWithTheReason) {
  auto e = pod_exit(pod_with_status("oomkilled-137"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGKILL);
  EXPECT_EQ(e->container_code(), 137);
  EXPECT_EQ(e->describe(), "killed by SIGKILL (137) (OOMKilled)");
}

TEST(PodExit, AnErrorExitKeepsItsCodeAndDropsTheBareReason) {
  auto e = pod_exit(pod_with_status("error-1"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 1);
  EXPECT_EQ(e->describe(), "exit code 1");
}

TEST(PodExit, AnEvictedPodWithoutContainerStatusesIsKilledWithThePodsReason) {
  auto e = pod_exit(pod_with_status("evicted"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->container_code(), 137);
  EXPECT_NE(e->reason.find("Evicted: The node was low on resource: memory"), std::string::npos) << e->reason;
}

TEST(PodExit, WithSeveralContainersTheFailedOneIsNamed) {
  nlohmann::json pod = pod_with_status("error-1");
  nlohmann::json ok = pod["status"]["containerStatuses"][0];
  ok["name"] = "sidecar";
  ok["state"] = {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}};
  pod["status"]["containerStatuses"].insert(pod["status"]["containerStatuses"].begin(), ok);
  auto e = pod_exit(pod);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->describe(), "exit code 1 (container main)");
}

TEST(Kubectl, AFailedCallSaysWhatWeDidTheCommandAndKubectlsErrorVerbatim) {
  Kubectl echo_fail({"/bin/false", "ctx", "team-a"});
  auto r = echo_fail.call("creating pod x", {"create", "-f", "-"}, "kind: Pod\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().message(), "creating pod x: `/bin/false --context ctx --namespace team-a create -f -` exited with 1:\n");
  Kubectl missing({"/no/such/kubectl", "", "default"});
  CommandOutput out = missing.run({"get", "pods"});
  EXPECT_EQ(out.exit_code, 127);
  EXPECT_EQ(out.err, "/no/such/kubectl: cannot execute: not found\n");
}

TEST(Subprocess, FeedsLargeInputWhileDrainingLargeOutput) {
  std::string input(1 << 20, 'x');  // more than a pipe holds, both ways
  auto r = run_command({{"sh", "-c", "cat; echo done >&2; exit 3"}, {}, input, CommandSpec::Stderr::kCapture});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, input);
  EXPECT_EQ(r->err, "done\n");
}

TEST(Subprocess, ACommandThatIgnoresItsInputDoesNotKillUs) {
  auto r = run_command({{"true"}, {}, std::string(1 << 20, 'x'), CommandSpec::Stderr::kCapture});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
}

TEST(Selector, NamesTheJobAndRingmaster) {
  EXPECT_EQ(job_selector("mnist"), "training.kubeflow.org/job-name=mnist,app.kubernetes.io/managed-by=ringmaster");
}

}  // namespace
}  // namespace ringmaster::k8s
