// rendezvous_from_env: what each way of starting a job (nothing, PyTorchJob, mpirun) turns into,
// and clear refusals of bad environments.
#include "collectives/factory.h"
#include "common/tf_config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace ringmaster::collectives {
namespace {

Result<RendezvousConfig> from(const std::map<std::string, std::string>& env) {
  return rendezvous_from_env([&env](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(RendezvousFromEnv, NothingSetIsAWorldOfOne) {
  auto c = from({});
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->world_size, 1);
  EXPECT_EQ(c->rank, 0);
  EXPECT_EQ(c->backend, "auto");
}

// Issue 21: a Worker-only PyTorchJob's replicas get PET_NNODES but no world from the operator; each
// trained alone and the job "succeeded" with N separate models.
TEST(RendezvousFromEnv, AReplicaOfSeveralWithoutAWorldIsAnError) {
  auto c = from({{"PET_NNODES", "3"}, {"PET_NPROC_PER_NODE", "auto"}});
  ASSERT_FALSE(c);
  EXPECT_NE(c.status().message().find("PET_NNODES: this replica is one of 3 of its job, but the job gives no "
                                      "WORLD_SIZE, RANK or MASTER_ADDR"),
            std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find("add a Master"), std::string::npos);
  EXPECT_TRUE(from({{"PET_NNODES", "1"}}));  // a job of one replica is a world of one
  EXPECT_TRUE(from({{"PET_NNODES", "3"}, {"WORLD_SIZE", "3"}, {"RANK", "1"}, {"MASTER_ADDR", "h"},
                    {"MASTER_PORT", "1"}}));
}

TEST(RendezvousFromEnv, WorldSizeOneAloneNeedsNoRankOrMaster) {
  auto c = from({{"WORLD_SIZE", "1"}});
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->world_size, 1);
  EXPECT_EQ(c->rank, 0);
  EXPECT_FALSE(c->has_master);
}

TEST(RendezvousFromEnv, PyTorchJobVariables) {
  auto c = from({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"MASTER_ADDR", "10.0.0.5"}, {"MASTER_PORT", "23456"},
                 {"RINGMASTER_JOB_TOKEN", "tok"}, {"RINGMASTER_COLLECTIVES", "tcp"},
                 {"RINGMASTER_TIMEOUT_SECONDS", "7"}});
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->world_size, 4);
  EXPECT_EQ(c->rank, 3);
  EXPECT_EQ(c->master.host, "10.0.0.5");
  EXPECT_EQ(c->master.port, 23456);
  EXPECT_EQ(c->token, "tok");
  EXPECT_EQ(c->backend, "tcp");
  EXPECT_EQ(c->options.timeout, std::chrono::seconds(7));
  EXPECT_FALSE(c->from_mpi);
}

TEST(RendezvousFromEnv, OpenMpiVariablesBootstrapThroughMpi) {
  auto c = from({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}});
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->world_size, 2);
  EXPECT_EQ(c->rank, 1);
  EXPECT_TRUE(c->from_mpi);
  EXPECT_EQ(c->device, 1);
}

TEST(RendezvousFromEnv, BadValuesAreNamed) {
  auto missing_master = from({{"WORLD_SIZE", "2"}, {"RANK", "0"}});
  ASSERT_FALSE(missing_master);
  EXPECT_NE(missing_master.status().message().find("MASTER_ADDR"), std::string::npos);
  auto rank_too_big = from({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1"}});
  ASSERT_FALSE(rank_too_big);
  EXPECT_NE(rank_too_big.status().message().find("RANK"), std::string::npos);
  auto backend = from({{"RINGMASTER_COLLECTIVES", "carrier-pigeon"}});
  ASSERT_FALSE(backend);
  EXPECT_NE(backend.status().message().find("carrier-pigeon"), std::string::npos);
}

TEST(RendezvousFromEnv, TfConfigChiefIsRankZeroThenWorkers) {
  const std::string cluster =
      R"("cluster": {"chief": ["127.0.0.1:4000"], "worker": ["127.0.0.1:4001", "127.0.0.1:4002"],
                     "ps": ["127.0.0.1:4003"]})";
  auto chief = from({{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "chief", "index": 0}})"}});
  ASSERT_TRUE(chief) << chief.status().message();
  EXPECT_EQ(chief->rank, 0);
  EXPECT_EQ(chief->world_size, 3);
  EXPECT_EQ(chief->master.port, 4000);
  auto worker = from({{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "worker", "index": 1}})"}});
  ASSERT_TRUE(worker) << worker.status().message();
  EXPECT_EQ(worker->rank, 2);
  auto ps = from({{"TF_CONFIG", "{" + cluster + R"(, "task": {"type": "ps", "index": 0}})"}});
  ASSERT_FALSE(ps);
  EXPECT_NE(ps.status().message().find("--strategy ps"), std::string::npos);
  auto garbage = from({{"TF_CONFIG", "{not json"}});
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.status().message().find("TF_CONFIG"), std::string::npos);
}

TEST(RendezvousFromEnv, TfConfigWorkersOnly) {
  auto c = from({{"TF_CONFIG",
                  R"({"cluster": {"worker": ["127.0.0.1:5000", "127.0.0.1:5001"]}, "task": {"type": "worker", "index": 1}})"}});
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->rank, 1);
  EXPECT_EQ(c->world_size, 2);
  EXPECT_EQ(c->master.port, 5000);
}

TEST(Create, MpiBackendOutsideMpirunWithAWorldOfSeveralIsRefused) {
  auto c = from({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1"},
                 {"RINGMASTER_COLLECTIVES", "mpi"}});
  ASSERT_TRUE(c) << c.status().message();
  auto comm = create(*c);
  ASSERT_FALSE(comm);
  EXPECT_NE(comm.status().message().find("mpirun"), std::string::npos) << comm.status().message();
}

// Issue 22: a Trainer v2 torch node has torchrun's PET_* and no WORLD_SIZE; ringmaster train is
// one process per node, so the nodes are the world.
TEST(RendezvousFromEnv, TrainerV2TorchNodeFindsItsPlaceFromPetVariables) {
  auto c = from({{"PET_NNODES", "3"}, {"PET_NPROC_PER_NODE", "2"}, {"PET_NODE_RANK", "2"},
                 {"PET_MASTER_ADDR", "127.0.0.1"}, {"PET_MASTER_PORT", "29555"}});
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_EQ(c->world_size, 3);
  EXPECT_EQ(c->rank, 2);
  EXPECT_TRUE(c->has_master);
  EXPECT_EQ(c->master.port, 29555);
  auto bad = from({{"PET_NNODES", "2"}, {"PET_NODE_RANK", "2"}, {"PET_MASTER_ADDR", "127.0.0.1"}, {"PET_MASTER_PORT", "1"}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("PET_NODE_RANK"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace ringmaster::collectives

TEST(TfConfigTest, TrainingProcessesAreTheChiefThenTheWorkers) {
  auto tf = ringmaster::parse_tf_config(
      R"({"cluster": {"worker": ["w0:1", "w1:1"], "ps": ["p0:1"], "chief": ["c:1"]}, "task": {"type": "worker", "index": 1}})");
  ASSERT_TRUE(tf.is_ok()) << tf.status().message();
  EXPECT_EQ(tf->training_members(), (std::vector<std::string>{"c:1", "w0:1", "w1:1"}));
  EXPECT_EQ(tf->training_rank(), 2);
  EXPECT_TRUE(tf->is_training_task());
  EXPECT_EQ(tf->cluster.at("ps"), (std::vector<std::string>{"p0:1"}));
  auto bad = ringmaster::parse_tf_config(R"({"cluster": {"ps": [7]}, "task": {"type": "ps", "index": 0}})");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("cluster.ps: expected a list of host:port"), std::string::npos);
  EXPECT_FALSE(ringmaster::parse_tf_config(R"({"cluster": {}, "task": {"type": "ps", "index": "0"}})").is_ok());
}
