// The client's hot path without protobuf's copies: a PushRequest encoded as gRPC slices that point
// at the gradients themselves (only the few bytes of field headers are written), and a
// PullResponse decoded from the received slices straight into the parameters. The encoding is
// protobuf's wire format for the messages in ps.proto, so the server reads them as usual.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "ps/layout.h"

namespace ringmaster::ps {

// A PushRequest for one server's blocks. The buffer refers to `grads` and to this object's
// headers: both must outlive the call that sends it.
class PushEncoder {
 public:
  explicit PushEncoder(std::vector<Block> blocks);
  grpc::ByteBuffer encode(uint32_t worker, uint64_t clock, float lr, std::span<const float> grads);

 private:
  std::vector<Block> blocks_;
  std::vector<std::string> block_headers_;  // Tensor tag, length, key, values tag and length
  std::string header_;                     // worker, clock, lr
  std::vector<grpc::Slice> slices_;
};

// Copies each block of a PullResponse into params at its offset. Fails (kInternal) when the
// answer is not one block per entry of `blocks`, in order, with the exact lengths.
Status decode_pull(const grpc::ByteBuffer& response, std::span<const Block> blocks, std::span<float> params);

}  // namespace ringmaster::ps
