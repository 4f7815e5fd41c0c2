#include "ps/wire_codec.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace ringmaster::ps {
namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::size_t varint_size(uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

// Field numbers and wire types of ps.proto.
constexpr uint8_t kVarint = 0, kFixed32 = 5, kDelimited = 2;
constexpr uint8_t tag(int field, uint8_t type) { return static_cast<uint8_t>(field << 3 | type); }

// Reads across the slices of a received message.
class Reader {
 public:
  explicit Reader(std::vector<grpc::Slice> slices) : slices_(std::move(slices)) {
    for (const auto& s : slices_) left_ += s.size();
  }
  std::size_t left() const { return left_; }
  bool byte(uint8_t& b) {
    if (left_ == 0) return false;
    skip_empty();
    b = slices_[slice_].begin()[at_];
    advance(1);
    return true;
  }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (!byte(b)) return false;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool copy(void* dst, std::size_t n) {
    if (n > left_) return false;
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
      skip_empty();
      const std::size_t take = std::min(n, slices_[slice_].size() - at_);
      if (out) {
        std::memcpy(out, slices_[slice_].begin() + at_, take);
        out += take;
      }
      advance(take);
      n -= take;
    }
    return true;
  }
  bool skip(std::size_t n) { return copy(nullptr, n); }
  // The next n bytes as views of the slices they lie in, without copying.
  bool pieces(std::size_t n, std::vector<std::span<const uint8_t>>& out) {
    if (n > left_) return false;
    while (n > 0) {
      skip_empty();
      const std::size_t take = std::min(n, slices_[slice_].size() - at_);
      out.emplace_back(slices_[slice_].begin() + at_, take);
      advance(take);
      n -= take;
    }
    return true;
  }
  std::vector<grpc::Slice> release() { return std::move(slices_); }

 private:
  void skip_empty() {
    while (at_ >= slices_[slice_].size()) ++slice_, at_ = 0;
  }
  void advance(std::size_t n) {
    at_ += n;
    left_ -= n;
  }
  std::vector<grpc::Slice> slices_;
  std::size_t slice_ = 0, at_ = 0, left_ = 0;
};

bool skip_field(Reader& r, uint8_t wire) {
  uint64_t v = 0;
  switch (wire) {
    case kVarint: return r.varint(v);
    case 1: return r.skip(8);
    case kFixed32: return r.skip(4);
    case kDelimited: return r.varint(v) && r.skip(v);
    default: return false;
  }
}

// Everything of a repeated Tensor field `field` but its values: the field's tag and length, the
// key, and the values' tag and length (PushRequest.grads is field 4, PullResponse.blocks field 1).
std::string tensor_header(int field, uint32_t key, uint64_t bytes) {
  const uint64_t tensor = 1 + varint_size(key) + 1 + varint_size(bytes) + bytes;
  std::string h;
  h.push_back(static_cast<char>(tag(field, kDelimited)));
  put_varint(h, tensor);
  h.push_back(static_cast<char>(tag(1, kVarint)));  // Tensor.key
  put_varint(h, key);
  h.push_back(static_cast<char>(tag(2, kDelimited)));  // Tensor.values
  put_varint(h, bytes);
  return h;
}

}  // namespace

PushEncoder::PushEncoder(std::vector<Block> blocks) : blocks_(std::move(blocks)) {
  for (const Block& b : blocks_) {
    block_headers_.push_back(tensor_header(4, b.key, static_cast<uint64_t>(b.length) * sizeof(float)));  // grads
  }
}

grpc::ByteBuffer PushEncoder::encode(uint32_t worker, uint64_t clock, float lr, std::span<const float> grads) {
  header_.clear();
  header_.push_back(static_cast<char>(tag(1, kVarint)));
  put_varint(header_, worker);
  header_.push_back(static_cast<char>(tag(2, kVarint)));
  put_varint(header_, clock);
  header_.push_back(static_cast<char>(tag(3, kFixed32)));
  char lr_bytes[4];
  std::memcpy(lr_bytes, &lr, 4);  // little-endian hosts only, as the values themselves
  header_.append(lr_bytes, 4);
  slices_.clear();
  slices_.emplace_back(header_.data(), header_.size(), grpc::Slice::STATIC_SLICE);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    slices_.emplace_back(block_headers_[i].data(), block_headers_[i].size(), grpc::Slice::STATIC_SLICE);
    slices_.emplace_back(grads.data() + blocks_[i].offset, static_cast<std::size_t>(blocks_[i].length) * sizeof(float),
                         grpc::Slice::STATIC_SLICE);
  }
  return grpc::ByteBuffer(slices_.data(), slices_.size());
}

Status decode_pull(const grpc::ByteBuffer& response, std::span<const Block> blocks, std::span<float> params) {
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return internal_error("pull: unreadable answer");
  Reader r(std::move(slices));
  std::size_t next = 0;
  const auto bad = [&](const std::string& why) { return internal_error("pull: malformed answer: " + why); };
  while (r.left() > 0) {
    uint8_t t = 0;
    if (!r.byte(t)) return bad("truncated");
    if (t != tag(1, kDelimited)) {  // PullResponse.version and anything newer: not needed here
      if (!skip_field(r, t & 7)) return bad(fmt::format("field {} truncated", t >> 3));
      continue;
    }
    uint64_t length = 0;
    if (!r.varint(length) || length > r.left()) return bad("a block's length");
    if (next >= blocks.size()) return bad(fmt::format("more than the {} blocks of this server", blocks.size()));
    const Block& b = blocks[next++];
    const std::size_t end = r.left() - length;
    bool got_values = false;
    uint64_t key = 0;
    while (r.left() > end) {
      uint8_t ft = 0;
      if (!r.byte(ft)) return bad("truncated block");
      if (ft == tag(1, kVarint)) {
        if (!r.varint(key)) return bad("a block's key");
      } else if (ft == tag(2, kDelimited)) {
        uint64_t bytes = 0;
        if (!r.varint(bytes)) return bad("a block's size");
        if (bytes != static_cast<uint64_t>(b.length) * sizeof(float))
          return bad(fmt::format("block {} has {} bytes, expected {}", b.key, bytes, b.length * 4));
        if (!r.copy(params.data() + b.offset, bytes)) return bad("a block's values");
        got_values = true;
      } else if (!skip_field(r, ft & 7)) {
        return bad("a block's field");
      }
    }
    if (key != b.key || !got_values) return bad(fmt::format("expected block {} in position {}", b.key, next - 1));
  }
  if (next != blocks.size()) return bad(fmt::format("{} blocks, expected {}", next, blocks.size()));
  return Status::ok();
}

Result<PushView> PushView::decode(const grpc::ByteBuffer& request) {
  std::vector<grpc::Slice> slices;
  if (!request.Dump(&slices).ok()) return invalid_argument("push: unreadable request");
  PushView v;
  Reader r(std::move(slices));
  v.bytes = r.left();
  const auto bad = [](const std::string& why) { return invalid_argument("push: malformed request: " + why); };
  while (r.left() > 0) {
    uint8_t t = 0;
    uint64_t x = 0;
    if (!r.byte(t)) return bad("truncated");
    if (t == tag(1, kVarint)) {
      if (!r.varint(x)) return bad("worker");
      v.worker = static_cast<uint32_t>(x);
    } else if (t == tag(2, kVarint)) {
      if (!r.varint(v.clock)) return bad("clock");
    } else if (t == tag(3, kFixed32)) {
      if (!r.copy(&v.lr, 4)) return bad("lr");
    } else if (t == tag(4, kDelimited)) {
      uint64_t length = 0;
      if (!r.varint(length) || length > r.left()) return bad("a block's length");
      const std::size_t end = r.left() - length;
      Grad g;
      bool got_values = false;
      while (r.left() > end) {
        uint8_t ft = 0;
        if (!r.byte(ft)) return bad("truncated block");
        if (ft == tag(1, kVarint)) {
          if (!r.varint(x)) return bad("a block's key");
          g.key = static_cast<uint32_t>(x);
        } else if (ft == tag(2, kDelimited)) {
          if (!r.varint(g.bytes) || g.bytes > r.left() - end || !r.pieces(g.bytes, g.pieces))
            return bad("a block's values");
          got_values = true;
        } else if (!skip_field(r, ft & 7)) {
          return bad("a block's field");
        }
      }
      if (r.left() != end) return bad("a block overruns its length");
      if (!got_values) g.bytes = 0;
      v.grads.push_back(std::move(g));
    } else if (!skip_field(r, t & 7)) {
      return bad(fmt::format("field {} truncated", t >> 3));
    }
  }
  v.slices_ = r.release();
  return v;
}

std::span<const float> PushView::floats(const Grad& g, std::vector<float>& scratch) {
  const std::size_t n = g.bytes / sizeof(float);
  if (g.pieces.size() == 1 && reinterpret_cast<std::uintptr_t>(g.pieces[0].data()) % alignof(float) == 0)
    return {reinterpret_cast<const float*>(g.pieces[0].data()), n};
  scratch.resize(n);
  auto* out = reinterpret_cast<uint8_t*>(scratch.data());
  for (const auto& p : g.pieces) {
    std::memcpy(out, p.data(), p.size());
    out += p.size();
  }
  return scratch;
}

PullWriter::PullWriter(std::size_t blocks, std::size_t floats)
    // Per block at most: Tensor tag + length (11) + key tag + key (6) + values tag + length (11);
    // then the version field (11).
    : slice_(floats * sizeof(float) + blocks * 28 + 16), capacity_(floats * sizeof(float) + blocks * 28 + 16) {
  data_ = const_cast<uint8_t*>(slice_.begin());  // a fresh slice of ours: writable until sent
}

void PullWriter::add(uint32_t key, std::span<const float> values) {
  const uint64_t bytes = values.size_bytes();
  const std::string header = tensor_header(1, key, bytes);  // PullResponse.blocks
  if (used_ + header.size() + bytes + 11 > capacity_)  // 11: finish()'s version field
    throw std::logic_error("PullWriter: more blocks or values than it was sized for");
  std::memcpy(data_ + used_, header.data(), header.size());
  used_ += header.size();
  std::memcpy(data_ + used_, values.data(), bytes);
  used_ += bytes;
}

grpc::ByteBuffer PullWriter::finish(uint64_t version) {
  std::string v;
  v.push_back(static_cast<char>(tag(2, kVarint)));  // PullResponse.version
  put_varint(v, version);
  std::memcpy(data_ + used_, v.data(), v.size());
  used_ += v.size();
  grpc::Slice exact = slice_.sub(0, used_);  // a reference to the bytes written, no copy
  return grpc::ByteBuffer(&exact, 1);
}

}  // namespace ringmaster::ps
