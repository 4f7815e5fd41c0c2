#include "collectives/mpi.h"

#include <fmt/format.h>
#include <mpi.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <vector>

#include "collectives/call_check.h"
#include "collectives/executor.h"

namespace ringmaster::collectives {
namespace {

std::once_flag g_init_once;          // MPI is process-global by nature; this mirrors it
std::atomic<bool> g_abort_at_exit{false};
int g_init_error = MPI_SUCCESS;

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (g_abort_at_exit.load()) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Finalize();
}

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, static_cast<std::size_t>(len));
}

MPI_Datatype mpi_type(DataType t) {
  switch (t) {
    case DataType::kFloat32: return MPI_FLOAT;
    case DataType::kFloat64: return MPI_DOUBLE;
    case DataType::kInt32: return MPI_INT32_T;
    case DataType::kInt64: return MPI_INT64_T;
    default: return MPI_FLOAT;  // 16-bit types travel widened to float32
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin: return MPI_MIN;
    case ReduceOp::kMax: return MPI_MAX;
    default: return MPI_SUM;
  }
}

bool is_16bit(DataType t) { return t == DataType::kFloat16 || t == DataType::kBFloat16; }

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(CommunicatorOptions o) : options_(o) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // Errors come back as codes instead of aborting, so they become Status messages.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  Status allreduce(const void* in, void* out, std::size_t count, DataType t, ReduceOp op, Millis timeout) override {
    return wait(start_allreduce(in, out, count, t, op), timeout, "MPI_Allreduce");
  }
  // MPI cannot time a call out, so the wait for its result is bounded instead: the Work is a
  // deferred future that runs in the thread that gets it (a hung peer found by the training loop's
  // wait for its buckets is then a timeout error, and MPI_Abort at exit).
  Work allreduce_async(const void* in, void* out, std::size_t count, DataType t, ReduceOp op, Millis timeout) override {
    Work started = start_allreduce(in, out, count, t, op);
    return std::async(std::launch::deferred, [this, started, timeout] {
             return wait(started, timeout, "MPI_Allreduce (asynchronous)");
           }).share();
  }

 private:
  Work start_allreduce(const void* in, void* out, std::size_t count, DataType t, ReduceOp op) {
    return enqueue([=, this]() -> Status { return observed([&]() -> Status {
      if (auto s = check_same_call(CallKind::kAllreduce, t, op, count, 0); !s) return s;
      if (is_16bit(t)) {
        std::vector<float> w(count);
        widen(in, w.data(), count, t);
        if (auto s = code(MPI_Allreduce(MPI_IN_PLACE, w.data(), static_cast<int>(count), MPI_FLOAT, mpi_op(op),
                                        MPI_COMM_WORLD), "MPI_Allreduce"); !s)
          return s;
        if (op == ReduceOp::kAverage) divide(w.data(), count, DataType::kFloat32, size_);
        narrow(w.data(), out, count, t);
        return Status::ok();
      }
      const void* src = in == out ? MPI_IN_PLACE : in;
      if (auto s = code(MPI_Allreduce(src, out, static_cast<int>(count), mpi_type(t), mpi_op(op), MPI_COMM_WORLD),
                        "MPI_Allreduce");
          !s)
        return s;
      if (op == ReduceOp::kAverage) divide(out, count, t, size_);
      return Status::ok();
    }); });
  }

 public:
  Status broadcast(void* data, std::size_t count, DataType t, int root, Millis timeout) override {
    return wait(enqueue([=, this]() -> Status {
                  if (root < 0 || root >= size_)
                    return invalid_argument(fmt::format("broadcast: root {} is outside the world of size {}", root,
                                                        size_));
                  if (auto s = check_same_call(CallKind::kBroadcast, t, ReduceOp::kSum, count, root); !s) return s;
                  return code(MPI_Bcast(data, static_cast<int>(count * element_size(t)), MPI_BYTE, root,
                                        MPI_COMM_WORLD),
                              "MPI_Bcast");
                }),
                timeout, "MPI_Bcast");
  }
  Status allgather(const void* in, void* out, std::size_t count, DataType t, Millis timeout) override {
    return wait(enqueue([=, this]() -> Status {
                  if (auto s = check_same_call(CallKind::kAllgather, t, ReduceOp::kSum, count, 0); !s) return s;
                  const int bytes = static_cast<int>(count * element_size(t));
                  return code(MPI_Allgather(in, bytes, MPI_BYTE, out, bytes, MPI_BYTE, MPI_COMM_WORLD),
                              "MPI_Allgather");
                }),
                timeout, "MPI_Allgather");
  }
  Status reduce_scatter(const void* in, void* out, std::size_t count, DataType t, ReduceOp op,
                        Millis timeout) override {
    return wait(enqueue([=, this]() -> Status {
                  if (auto s = check_same_call(CallKind::kReduceScatter, t, op, count, 0); !s) return s;
                  const std::size_t total = count * static_cast<std::size_t>(size_);
                  if (is_16bit(t)) {
                    std::vector<float> w(total), o(count);
                    widen(in, w.data(), total, t);
                    if (auto s = code(MPI_Reduce_scatter_block(w.data(), o.data(), static_cast<int>(count), MPI_FLOAT,
                                                               mpi_op(op), MPI_COMM_WORLD),
                                      "MPI_Reduce_scatter_block");
                        !s)
                      return s;
                    if (op == ReduceOp::kAverage) divide(o.data(), count, DataType::kFloat32, size_);
                    narrow(o.data(), out, count, t);
                    return Status::ok();
                  }
                  if (auto s = code(MPI_Reduce_scatter_block(in, out, static_cast<int>(count), mpi_type(t),
                                                             mpi_op(op), MPI_COMM_WORLD),
                                    "MPI_Reduce_scatter_block");
                      !s)
                    return s;
                  if (op == ReduceOp::kAverage) divide(out, count, t, size_);
                  return Status::ok();
                }),
                timeout, "MPI_Reduce_scatter_block");
  }
  Status barrier(Millis timeout) override {
    return wait(enqueue([this] { return code(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }), timeout, "MPI_Barrier");
  }

 private:
  Status code(int rc, const char* what) {
    return rc == MPI_SUCCESS ? Status::ok()
                             : Status(StatusCode::kUnavailable, fmt::format("rank {}: {} failed: {}", rank_, what,
                                                                            mpi_error(rc)));
  }
  // One small MPI_Allreduce checks that every rank makes the same call (call_check.h).
  Status check_same_call(CallKind kind, DataType t, ReduceOp op, std::size_t count, int root) {
    const CallSignature sig = make_signature(++seq_, kind, t, op, count, root);
    CallCheck v = encode_call_check(sig);
    if (auto s = code(MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_INT64_T, MPI_MAX,
                                    MPI_COMM_WORLD),
                      "MPI_Allreduce (call check)");
        !s)
      return s;
    return verify_call_check(v, sig, rank_);
  }

  Work enqueue(std::function<Status()> fn) {
    return executor_.submit([this, fn = std::move(fn)] {
      if (!broken_.is_ok()) return broken_;
      Status s = fn();
      if (!s && broken_.is_ok()) broken_ = s;
      return s;
    });
  }
  Status wait(const Work& w, Millis timeout, const char* what) {
    const Millis limit = timeout.count() > 0 ? timeout : options_.timeout;
    if (w.wait_for(limit) == std::future_status::ready) return w.get();
    executor_.abandon();  // stuck inside MPI; MPI_Abort at exit ends it
    g_abort_at_exit = true;
    return Status(StatusCode::kDeadlineExceeded,
                  fmt::format("rank {}: {} did not complete within {} ms (a rank is missing, dead or in another call); "
                              "the MPI communicator is unusable and the process will call MPI_Abort at exit",
                              rank_, what, limit.count()));
  }
  CommunicatorOptions options_;
  int rank_ = 0, size_ = 1;
  uint64_t seq_ = 0;   // used on the MPI thread only
  Status broken_;      // used on the MPI thread only
  SerialExecutor executor_;  // last member: destroyed (joined) first
};

}  // namespace

void abort_mpi_at_exit() { g_abort_at_exit = true; }

Status ensure_mpi() {
  std::call_once(g_init_once, [] {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;
    int provided = 0;
    g_init_error = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (g_init_error == MPI_SUCCESS) std::atexit(finalize_at_exit);
  });
  if (g_init_error != MPI_SUCCESS) return Status(StatusCode::kUnavailable, "MPI_Init_thread failed: " + mpi_error(g_init_error));
  return Status::ok();
}

AddressExchange mpi_address_exchange() {
  return [](const std::string& mine) -> Result<std::vector<std::string>> {
    if (auto s = ensure_mpi(); !s) return s;
    constexpr int kWidth = 128;
    if (mine.size() >= kWidth) return invalid_argument("address too long for the MPI exchange: " + mine);
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    std::vector<char> all(static_cast<std::size_t>(n) * kWidth, '\0');
    std::array<char, kWidth> buf{};
    std::memcpy(buf.data(), mine.data(), mine.size());
    const int rc = MPI_Allgather(buf.data(), kWidth, MPI_CHAR, all.data(), kWidth, MPI_CHAR, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return Status(StatusCode::kUnavailable, "MPI_Allgather of addresses failed: " + mpi_error(rc));
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.emplace_back(all.data() + static_cast<std::size_t>(i) * kWidth);
    return out;
  };
}

Result<std::unique_ptr<Communicator>> make_mpi_communicator(CommunicatorOptions options) {
  if (auto s = ensure_mpi(); !s) return s;
  return std::unique_ptr<Communicator>(std::make_unique<MpiCommunicator>(options));
}

}  // namespace ringmaster::collectives
