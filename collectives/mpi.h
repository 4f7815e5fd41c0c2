// The MPI side of collectives: bootstrap through OpenMPI (rank, size and the address exchange) and
// an MPI backend whose collectives are MPI_Allreduce and friends, for users who already tune their
// MPI. MPI is initialized once per process on first use (MPI_THREAD_SERIALIZED) and finalized at
// exit. Thread-safe.
#pragma once

#include <memory>

#include "collectives/communicator.h"
#include "collectives/transport.h"

namespace ringmaster::collectives {

// Initializes MPI if needed. Fails when the process was not started in a way MPI accepts.
Status ensure_mpi();
// Makes this process end the whole MPI job at exit (MPI_Abort: mpirun kills every rank and exits)
// instead of waiting in MPI_Finalize for ranks that may be hung or in another call. For a process
// that is exiting with an error; does nothing when MPI was never initialized.
void abort_mpi_at_exit();
// MPI_Allgather of every rank's address.
AddressExchange mpi_address_exchange();
// A communicator over MPI_COMM_WORLD. MPI has no timeouts of its own: each call runs on the
// communicator's thread and the caller waits at most the timeout; after a timeout the
// communicator is broken and the process calls MPI_Abort at exit instead of hanging in
// MPI_Finalize. Every call first checks that all ranks make the same call (one small
// MPI_Allreduce), so mismatches are errors, not undefined behaviour.
Result<std::unique_ptr<Communicator>> make_mpi_communicator(CommunicatorOptions options);

}  // namespace ringmaster::collectives
