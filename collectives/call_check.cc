#include "collectives/call_check.h"

#include <fmt/format.h>

namespace ringmaster::collectives {
namespace {

constexpr std::size_t kFields = 5;
constexpr const char* kFieldNames[kFields] = {"call order", "collective", "data type", "operation or root",
                                              "element count"};

std::array<int64_t, kFields> fields(const CallSignature& s) {
  return {static_cast<int64_t>(s.seq), s.kind, s.dtype, static_cast<int64_t>(s.op) * 1000000 + s.root,
          static_cast<int64_t>(s.count)};
}

}  // namespace

std::string CallSignature::describe() const {
  static const char* kinds[] = {"?", "allreduce", "broadcast", "allgather", "reduce_scatter", "barrier"};
  const char* k = kind < std::size(kinds) ? kinds[kind] : "?";
  std::string what = fmt::format("{} #{} ({}", k, seq, name(static_cast<DataType>(dtype)));
  if (kind == static_cast<uint8_t>(CallKind::kAllreduce) || kind == static_cast<uint8_t>(CallKind::kReduceScatter))
    what += fmt::format(" {}", name(static_cast<ReduceOp>(op)));
  if (kind == static_cast<uint8_t>(CallKind::kBroadcast)) what += fmt::format(" from root {}", root);
  return what + fmt::format(", {} elements)", count);
}

CallSignature make_signature(uint64_t seq, CallKind kind, DataType type, ReduceOp op, std::size_t count, int root) {
  CallSignature s;
  s.seq = seq;
  s.kind = static_cast<uint8_t>(kind);
  s.dtype = static_cast<uint8_t>(type);
  s.op = static_cast<uint8_t>(op);
  s.root = root;
  s.count = count;
  return s;
}

CallCheck encode_call_check(const CallSignature& sig) {
  const auto f = fields(sig);
  CallCheck v{};
  for (std::size_t i = 0; i < kFields; ++i) v[i] = f[i], v[kFields + i] = -f[i];
  return v;
}

Status verify_call_check(const CallCheck& reduced, const CallSignature& mine, int rank) {
  for (std::size_t i = 0; i < kFields; ++i)
    if (reduced[i] != -reduced[kFields + i])
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("mismatched collectives: rank {} is in {}, but the ranks disagree on the {} (from {} "
                                "to {})",
                                rank, mine.describe(), kFieldNames[i], -reduced[kFields + i], reduced[i]));
  return Status::ok();
}

}  // namespace ringmaster::collectives
