#include "collectives/communicator.h"

#include <fmt/format.h>

#include <cstring>
#include <functional>
#include <mutex>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/call_check.h"
#include "collectives/executor.h"

namespace ringmaster::collectives {
namespace {

bool is_16bit(DataType t) { return t == DataType::kFloat16 || t == DataType::kBFloat16; }

class AlgorithmCommunicator final : public Communicator {
 public:
  AlgorithmCommunicator(std::unique_ptr<Transport> t, CommunicatorOptions o) : t_(std::move(t)), options_(o) {}
  int rank() const override { return t_->rank(); }
  int size() const override { return t_->size(); }
  std::string backend() const override { return t_->name(); }

  Status allreduce(const void* in, void* out, std::size_t count, DataType type, ReduceOp op, Millis timeout) override {
    return run([=, this] { return do_allreduce(in, out, count, type, op, deadline(timeout)); });
  }
  Work allreduce_async(const void* in, void* out, std::size_t count, DataType type, ReduceOp op,
                       Millis timeout) override {
    return enqueue([=, this] { return observed([&] { return do_allreduce(in, out, count, type, op, deadline(timeout)); }); });
  }
  Status broadcast(void* data, std::size_t count, DataType type, int root, Millis timeout) override {
    return run([=, this]() -> Status {
      if (root < 0 || root >= size())
        return invalid_argument(fmt::format("broadcast: root {} is outside the world of size {}", root, size()));
      const CallSignature sig = next(CallKind::kBroadcast, type, ReduceOp::kSum, count, root);
      return checked(algorithms::chain_broadcast(*t_, sig, static_cast<std::byte*>(data), count * element_size(type),
                                                 root, deadline(timeout)));
    });
  }
  Status allgather(const void* in, void* out, std::size_t count, DataType type, Millis timeout) override {
    return run([=, this]() -> Status {
      const std::size_t block = count * element_size(type);
      auto* o = static_cast<std::byte*>(out);
      if (block > 0) std::memmove(o + static_cast<std::size_t>(rank()) * block, in, block);
      const CallSignature sig = next(CallKind::kAllgather, type, ReduceOp::kSum, count, 0);
      return checked(algorithms::ring_allgather(*t_, sig, o, block, deadline(timeout)));
    });
  }
  Status reduce_scatter(const void* in, void* out, std::size_t count, DataType type, ReduceOp op,
                        Millis timeout) override {
    return run([=, this]() -> Status {
      const CallSignature sig = next(CallKind::kReduceScatter, type, op, count, 0);
      const std::size_t total = count * static_cast<std::size_t>(size());
      const DataType work_type = is_16bit(type) ? DataType::kFloat32 : type;
      const std::size_t es = element_size(work_type);
      work_.resize(total * es);
      if (is_16bit(type))
        widen(in, reinterpret_cast<float*>(work_.data()), total, type);
      else
        if (total > 0) std::memcpy(work_.data(), in, total * es);
      Status s = size() == 1 ? Status::ok()
                             : algorithms::ring_reduce_scatter(*t_, sig, work_.data(), count, work_type, op,
                                                               deadline(timeout), scratch_);
      if (!s) return checked(s);
      std::byte* mine = work_.data() + static_cast<std::size_t>(rank()) * count * es;
      finish(mine, out, count, type, op);
      return Status::ok();
    });
  }
  Status barrier(Millis timeout) override {
    return run([=, this]() -> Status {
      int32_t one = 1;
      const CallSignature sig = next(CallKind::kBarrier, DataType::kInt32, ReduceOp::kSum, 1, 0);
      return checked(reduce_any(sig, reinterpret_cast<std::byte*>(&one), 1, DataType::kInt32, ReduceOp::kSum,
                                deadline(timeout)));
    });
  }

 private:
  Deadline deadline(Millis timeout) const {
    return Deadline::after(timeout.count() > 0 ? timeout : options_.timeout);
  }
  CallSignature next(CallKind kind, DataType type, ReduceOp op, std::size_t count, int root) {
    return make_signature(++seq_, kind, type, op, count, root);
  }
  Status checked(Status s) {
    if (!s && broken_.is_ok()) broken_ = s;
    return s;
  }

  // Chooses the algorithm: recursive doubling for small messages on power-of-two worlds, else ring.
  Status reduce_any(const CallSignature& sig, std::byte* data, std::size_t count, DataType type, ReduceOp op,
                    Deadline d) {
    const int n = size();
    if (n == 1) return Status::ok();
    const bool pow2 = (n & (n - 1)) == 0;
    if (pow2 && count * element_size(type) <= options_.small_message_bytes)
      return algorithms::recursive_doubling_allreduce(*t_, sig, data, count, type, op, d, scratch_);
    return algorithms::ring_allreduce(*t_, sig, data, count, type, op, d, scratch_);
  }

  // Narrows / divides the reduced float32 (or native) values into out.
  void finish(std::byte* reduced, void* out, std::size_t count, DataType type, ReduceOp op) {
    const DataType work_type = is_16bit(type) ? DataType::kFloat32 : type;
    if (op == ReduceOp::kAverage && size() > 1) divide(reduced, count, work_type, size());
    if (is_16bit(type))
      narrow(reinterpret_cast<const float*>(reduced), out, count, type);
    else if (reduced != out)
      if (count > 0) std::memcpy(out, reduced, count * element_size(type));
  }

  Status do_allreduce(const void* in, void* out, std::size_t count, DataType type, ReduceOp op, Deadline d) {
    const CallSignature sig = next(CallKind::kAllreduce, type, op, count, 0);
    std::byte* data;
    if (is_16bit(type)) {
      work_.resize(count * 4);
      widen(in, reinterpret_cast<float*>(work_.data()), count, type);
      data = work_.data();
    } else {
      if (in != out && count > 0) std::memcpy(out, in, count * element_size(type));
      data = static_cast<std::byte*>(out);
    }
    Status s = reduce_any(sig, data, count, is_16bit(type) ? DataType::kFloat32 : type, op, d);
    if (!s) return checked(s);
    finish(data, out, count, type, op);
    return Status::ok();
  }

  // Runs fn now, or behind queued asynchronous work once the executor has started.
  Status run(std::function<Status()> fn) {
    if (executor_.started()) return enqueue(std::move(fn)).get();
    std::lock_guard lock(call_mutex_);
    if (!broken_.is_ok()) return broken_;
    return fn();
  }
  Work enqueue(std::function<Status()> fn) {
    return executor_.submit([this, fn = std::move(fn)] {
      std::lock_guard lock(call_mutex_);
      if (!broken_.is_ok()) return broken_;
      return fn();
    });
  }

  std::unique_ptr<Transport> t_;
  CommunicatorOptions options_;
  std::mutex call_mutex_;  // one collective at a time
  uint64_t seq_ = 0;       // GUARDED_BY(call_mutex_)
  Status broken_;          // GUARDED_BY(call_mutex_): the first error
  std::vector<std::byte> scratch_, work_;  // GUARDED_BY(call_mutex_)
  SerialExecutor executor_;  // last member: destroyed (joined) first
};

}  // namespace

std::unique_ptr<Communicator> make_communicator(std::unique_ptr<Transport> transport, CommunicatorOptions options) {
  return std::make_unique<AlgorithmCommunicator>(std::move(transport), options);
}

}  // namespace ringmaster::collectives
