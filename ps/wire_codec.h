// The hot path of both sides without protobuf's copies, in protobuf's wire format for the messages
// of ps.proto (so either side may still use protobuf):
//   client: a PushRequest encoded as gRPC slices that point at the gradients themselves (only the
//           few bytes of field headers are written), and a PullResponse decoded from the received
//           slices straight into the parameters;
//   server: a PushRequest read in place from the received slices (a block's gradients are used
//           where they lie when one slice holds them, else gathered once), and a PullResponse
//           written as one slice that the parameters are copied into once.
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

// A received PushRequest, read without copying the gradients. Holds references to the received
// slices, so the views stay valid as long as this object.
class PushView {
 public:
  struct Grad {
    uint32_t key = 0;
    uint64_t bytes = 0;
    // Where the values lie in the received slices, in order (several when the message arrived in
    // pieces that split this block).
    std::vector<std::span<const uint8_t>> pieces;
  };
  // Reads the message; kInvalidArgument naming the malformed field. Blocks are checked against
  // the server's layout by the caller.
  static Result<PushView> decode(const grpc::ByteBuffer& request);
  uint32_t worker = 0;
  uint64_t clock = 0;
  float lr = 0.0f;
  std::vector<Grad> grads;
  std::size_t bytes = 0;  // the whole message
  // A block's values as floats: in place when one piece holds them, aligned for float; otherwise
  // gathered into *scratch. REQUIRES: g.bytes a multiple of 4.
  static std::span<const float> floats(const Grad& g, std::vector<float>& scratch);

 private:
  std::vector<grpc::Slice> slices_;
};

// A PullResponse as one slice: add every block (its values are copied into the slice once), then
// finish(). Sized at construction for `blocks` blocks of `floats` values in all; adding more throws
// std::logic_error.
class PullWriter {
 public:
  PullWriter(std::size_t blocks, std::size_t floats);
  void add(uint32_t key, std::span<const float> values);
  grpc::ByteBuffer finish(uint64_t version);
  std::size_t bytes() const { return used_; }

 private:
  grpc::Slice slice_;
  uint8_t* data_ = nullptr;
  std::size_t used_ = 0, capacity_ = 0;
};

}  // namespace ringmaster::ps
