// The serial reference the collectives are checked against, shared by the in-process suite and
// the multi-process ranks (rank_main.cc): inputs are small integers, exact in every data type, so
// any summation order gives the same result.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "collectives/communicator.h"

namespace ringmaster::collectives::testing {

inline double value(int rank, std::size_t i) { return static_cast<double>(static_cast<int>((rank * 7 + i * 3) % 9) - 4); }

inline std::vector<std::byte> make_buffer(DataType t, std::size_t count, int rank) {
  std::vector<std::byte> b(count * element_size(t));
  for (std::size_t i = 0; i < count; ++i) {
    const double v = value(rank, i);
    switch (t) {
      case DataType::kFloat32: reinterpret_cast<float*>(b.data())[i] = static_cast<float>(v); break;
      case DataType::kFloat64: reinterpret_cast<double*>(b.data())[i] = v; break;
      case DataType::kInt32: reinterpret_cast<int32_t*>(b.data())[i] = static_cast<int32_t>(v); break;
      case DataType::kInt64: reinterpret_cast<int64_t*>(b.data())[i] = static_cast<int64_t>(v); break;
      case DataType::kFloat16: reinterpret_cast<uint16_t*>(b.data())[i] = float_to_half(static_cast<float>(v)); break;
      case DataType::kBFloat16:
        reinterpret_cast<uint16_t*>(b.data())[i] = float_to_bfloat16(static_cast<float>(v));
        break;
    }
  }
  return b;
}

inline double read(const std::vector<std::byte>& b, DataType t, std::size_t i) {
  switch (t) {
    case DataType::kFloat32: return reinterpret_cast<const float*>(b.data())[i];
    case DataType::kFloat64: return reinterpret_cast<const double*>(b.data())[i];
    case DataType::kInt32: return reinterpret_cast<const int32_t*>(b.data())[i];
    case DataType::kInt64: return static_cast<double>(reinterpret_cast<const int64_t*>(b.data())[i]);
    case DataType::kFloat16: return half_to_float(reinterpret_cast<const uint16_t*>(b.data())[i]);
    case DataType::kBFloat16: return bfloat16_to_float(reinterpret_cast<const uint16_t*>(b.data())[i]);
  }
  return 0;
}

inline double expected(DataType t, ReduceOp op, int n, std::size_t i) {
  double acc = value(0, i);
  for (int r = 1; r < n; ++r) {
    const double v = value(r, i);
    acc = op == ReduceOp::kMin ? std::min(acc, v) : op == ReduceOp::kMax ? std::max(acc, v) : acc + v;
  }
  if (op == ReduceOp::kAverage) {
    if (t == DataType::kInt32 || t == DataType::kInt64) return std::trunc(acc / n);
    return acc / n;
  }
  return acc;
}

inline double tolerance(DataType t) {
  return t == DataType::kFloat16 ? 2e-3 : t == DataType::kBFloat16 ? 1e-2 : t == DataType::kFloat32 ? 1e-6 : 1e-12;
}

inline const DataType kTypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kInt32,
                           DataType::kInt64,   DataType::kFloat16, DataType::kBFloat16};
inline const ReduceOp kOps[] = {ReduceOp::kSum, ReduceOp::kAverage, ReduceOp::kMin, ReduceOp::kMax};

// (transport, world size)
// Runs every collective, type, op and the given counts on c and compares with the reference.
// Returns "" when all agree, else what differed.
inline std::string check_all(Communicator& c, const std::vector<std::size_t>& counts) {
  const int n = c.size();
  for (std::size_t count : counts) {
    for (DataType t : kTypes)
      for (ReduceOp op : kOps) {
        auto in = make_buffer(t, count, c.rank());
        if (Status s = c.allreduce(in.data(), in.data(), count, t, op); !s) return s.message();
        for (std::size_t i = 0; i < count; ++i)
          if (std::abs(read(in, t, i) - expected(t, op, n, i)) > tolerance(t))
            return std::string("allreduce ") + name(t) + " " + name(op) + " count " + std::to_string(count) +
                   " element " + std::to_string(i) + ": got " + std::to_string(read(in, t, i)) + ", expected " +
                   std::to_string(expected(t, op, n, i));
        auto blocks = make_buffer(t, count * static_cast<std::size_t>(n), c.rank());
        std::vector<std::byte> out(count * element_size(t));
        if (Status s = c.reduce_scatter(blocks.data(), out.data(), count, t, op); !s) return s.message();
        for (std::size_t i = 0; i < count; ++i) {
          const double want = expected(t, op, n, static_cast<std::size_t>(c.rank()) * count + i);
          if (std::abs(read(out, t, i) - want) > tolerance(t))
            return std::string("reduce_scatter ") + name(t) + " " + name(op) + " element " + std::to_string(i);
        }
      }
    for (int root = 0; root < n; ++root) {
      auto buf = make_buffer(DataType::kInt32, count, c.rank());
      if (Status s = c.broadcast(buf.data(), count, DataType::kInt32, root); !s) return s.message();
      for (std::size_t i = 0; i < count; ++i)
        if (read(buf, DataType::kInt32, i) != value(root, i)) return "broadcast from root " + std::to_string(root);
    }
    auto mine = make_buffer(DataType::kFloat64, count, c.rank());
    std::vector<std::byte> all(mine.size() * static_cast<std::size_t>(n));
    if (Status s = c.allgather(mine.data(), all.data(), count, DataType::kFloat64); !s) return s.message();
    for (int r = 0; r < n; ++r)
      for (std::size_t i = 0; i < count; ++i)
        if (read(all, DataType::kFloat64, static_cast<std::size_t>(r) * count + i) != value(r, i)) return "allgather";
  }
  if (Status s = c.barrier(); !s) return s.message();
  return "";
}

}  // namespace ringmaster::collectives::testing
