// Creating a communicator for this process: where the job's rendezvous is, which rank this is, and
// which backend to use; read once from the environment at the edge of the program.
//
// Environment (what the launcher, the Kubeflow operators and mpirun set):
//   RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT       PyTorchJob style (rank 0 serves the store)
//   OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE        under mpirun: rank and size from OpenMPI,
//                                                      addresses exchanged through MPI
//   TF_CONFIG                                         a TFJob: chief (if any) is rank 0, then the
//                                                      workers by index; rank 0 serves the store at
//                                                      its own address
//   RINGMASTER_JOB_TOKEN, RINGMASTER_JOB_NAME         who may join (see store.h)
//   RINGMASTER_COLLECTIVES = auto|tcp|shm|mpi|nccl    the backend (auto: shm when every rank is on
//                                                      this host and namespace, else tcp)
//   RINGMASTER_BIND_ADDR                              the address peers reach this rank at
//   RINGMASTER_TIMEOUT_SECONDS                        joining and per-call timeout (default 60)
//   RINGMASTER_DEVICE (else LOCAL_RANK)               the GPU of the nccl backend
// Thread-safe (no shared state besides MPI's own, which is initialized once per process).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "collectives/communicator.h"
#include "common/socket.h"

namespace ringmaster::collectives {

struct RendezvousConfig {
  std::string backend = "auto";  // auto | tcp | shm | mpi | nccl
  int rank = 0;
  int world_size = 1;
  Endpoint master{"127.0.0.1", 29500};
  std::string token;
  std::string job = "ringmaster";
  std::string bind_host;  // empty: 127.0.0.1 for a loopback master, else the local address that routes to it
  bool from_mpi = false;  // rank and size came from OpenMPI; exchange addresses through MPI
  bool mpi_one_host = true;  // ... and every rank is on this host (OMPI_COMM_WORLD_LOCAL_SIZE)
  bool has_master = false;  // MASTER_ADDR/MASTER_PORT were given
  int device = 0;           // CUDA device for nccl: RINGMASTER_DEVICE, else LOCAL_RANK / OMPI_COMM_WORLD_LOCAL_RANK
  CommunicatorOptions options;
};

// Fails with kInvalidArgument "<what>: expected auto, tcp, shm, mpi or nccl, found ..." unless
// `backend` names one; `what` says where the name came from (a variable or a flag).
Status check_backend(const std::string& backend, const std::string& what);

using Getenv = std::function<const char*(const char*)>;
// Reads the variables above. A world of one needs none of them. Fails with kInvalidArgument
// naming the variable, what was expected and what was found.
Result<RendezvousConfig> rendezvous_from_env(const Getenv& getenv);

// Joins the job's rendezvous (rank 0 serves the store) and connects the ranks. Blocks until every
// rank has joined or options.timeout passes.
Result<std::unique_ptr<Communicator>> create(const RendezvousConfig& config);

// The local IPv4 address this host uses to reach `host` (no packet is sent). A name is resolved,
// again and again until `deadline` (a peer's pod may not be in cluster DNS yet).
Result<std::string> local_address_towards(const std::string& host, Deadline deadline = Deadline::after(std::chrono::seconds(60)));

// The address other hosts reach this one at: what this host's name resolves to (a pod's hostname
// resolves to its IP), unless that is a loopback address.
Result<std::string> this_host_address();

}  // namespace ringmaster::collectives
