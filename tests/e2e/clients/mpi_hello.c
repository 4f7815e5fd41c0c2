/* An MPI program for the MPIJob tests: each rank prints its rank, the world size, the sum of all
   ranks (an allreduce) and which MPI library it runs on. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0, len = 0, sum = 0;
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Get_library_version(lib, &len);
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  printf("mpi rank=%d size=%d sum=%d lib=%.6s\n", rank, size, sum, lib);
  MPI_Finalize();
  return 0;
}
