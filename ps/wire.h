// Shared by the parameter server and its client: the token's metadata key and float32 <-> bytes.
// The bytes are the host's float32 representation (little-endian on every machine we build for).
#pragma once

#include <cstring>
#include <span>
#include <string>

namespace ringmaster::ps {

inline constexpr char kTokenMetadata[] = "x-ringmaster-token";

inline std::string to_bytes(std::span<const float> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size_bytes());
}

// A view of a bytes field as floats. REQUIRES: size a multiple of 4 (checked by the caller); the
// buffer is a std::string's heap or inline storage, aligned for float.
inline std::span<const float> as_floats(const std::string& bytes) {
  return {reinterpret_cast<const float*>(bytes.data()), bytes.size() / sizeof(float)};
}

}  // namespace ringmaster::ps
