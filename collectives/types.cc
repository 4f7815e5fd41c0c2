#include "collectives/types.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace ringmaster::collectives {
namespace {

// The reduction loops are compiled for AVX-512, AVX2 and baseline x86-64 and the best one the CPU
// has is picked at load time (GCC/Clang function multiversioning), so a portable binary still
// reduces at full vector width. Not in sanitizer builds: their runtimes are not up yet when the
// ifunc resolvers run at load time, and the process crashes before main.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define RM_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RM_MULTIVERSION
#endif

#define RM_REDUCE_LOOPS(T, NAME)                                                                 \
  RM_MULTIVERSION void sum_##NAME(T* __restrict d, const T* __restrict s, std::size_t n) {      \
    for (std::size_t i = 0; i < n; ++i) d[i] += s[i];                                            \
  }                                                                                              \
  RM_MULTIVERSION void min_##NAME(T* __restrict d, const T* __restrict s, std::size_t n) {      \
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i] < d[i] ? s[i] : d[i];                        \
  }                                                                                              \
  RM_MULTIVERSION void max_##NAME(T* __restrict d, const T* __restrict s, std::size_t n) {      \
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i] > d[i] ? s[i] : d[i];                        \
  }                                                                                              \
  void reduce_typed(T* d, const T* s, std::size_t n, ReduceOp op) {                              \
    switch (op) {                                                                                \
      case ReduceOp::kSum:                                                                       \
      case ReduceOp::kAverage: return sum_##NAME(d, s, n);                                       \
      case ReduceOp::kMin: return min_##NAME(d, s, n);                                           \
      case ReduceOp::kMax: return max_##NAME(d, s, n);                                           \
    }                                                                                            \
  }

RM_REDUCE_LOOPS(float, f32)
RM_REDUCE_LOOPS(double, f64)
RM_REDUCE_LOOPS(int32_t, i32)
RM_REDUCE_LOOPS(int64_t, i64)

template <typename T>
void divide_typed(T* d, std::size_t n, int64_t by) {
  const T div = static_cast<T>(by);
  for (std::size_t i = 0; i < n; ++i) d[i] /= div;
}

}  // namespace

std::size_t element_size(DataType t) {
  switch (t) {
    case DataType::kFloat32: return 4;
    case DataType::kFloat64: return 8;
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kFloat16: return 2;
    case DataType::kBFloat16: return 2;
  }
  return 0;
}

const char* name(DataType t) {
  switch (t) {
    case DataType::kFloat32: return "float32";
    case DataType::kFloat64: return "float64";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kFloat16: return "float16";
    case DataType::kBFloat16: return "bfloat16";
  }
  return "?";
}

const char* name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAverage: return "average";
    case ReduceOp::kMin: return "min";
    case ReduceOp::kMax: return "max";
  }
  return "?";
}

void reduce_into(void* dst, const void* src, std::size_t n, DataType t, ReduceOp op) {
  switch (t) {
    case DataType::kFloat32: return reduce_typed(static_cast<float*>(dst), static_cast<const float*>(src), n, op);
    case DataType::kFloat64: return reduce_typed(static_cast<double*>(dst), static_cast<const double*>(src), n, op);
    case DataType::kInt32: return reduce_typed(static_cast<int32_t*>(dst), static_cast<const int32_t*>(src), n, op);
    case DataType::kInt64: return reduce_typed(static_cast<int64_t*>(dst), static_cast<const int64_t*>(src), n, op);
    case DataType::kFloat16:
    case DataType::kBFloat16: throw std::logic_error("reduce_into: 16-bit types are reduced as float32");
  }
}

void divide(void* data, std::size_t n, DataType t, int64_t by) {
  switch (t) {
    case DataType::kFloat32: return divide_typed(static_cast<float*>(data), n, by);
    case DataType::kFloat64: return divide_typed(static_cast<double*>(data), n, by);
    case DataType::kInt32: return divide_typed(static_cast<int32_t*>(data), n, by);
    case DataType::kInt64: return divide_typed(static_cast<int64_t*>(data), n, by);
    case DataType::kFloat16:
    case DataType::kBFloat16: throw std::logic_error("divide: 16-bit types are divided as float32");
  }
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) mant <<= 1, --exp;
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00);  // rounds to infinity
  if (abs < 0x38800000u) {  // a subnormal half, or zero
    if (abs < 0x33000000u) return sign;  // below 2^-25: rounds to zero
    const uint32_t exp = abs >> 23, mant = (abs & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - exp;  // value / 2^-24 = mant >> shift; shift in 14..24
    uint32_t v = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (v & 1))) ++v;
    return static_cast<uint16_t>(sign | v);
  }
  uint32_t v = ((abs >> 13) - ((127 - 15) << 10));
  const uint32_t rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (v & 1))) ++v;
  return static_cast<uint16_t>(sign | v);
}

float bfloat16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bfloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

void widen(const void* src, float* dst, std::size_t n, DataType t) {
  const auto* s = static_cast<const uint16_t*>(src);
  if (t == DataType::kFloat16)
    for (std::size_t i = 0; i < n; ++i) dst[i] = half_to_float(s[i]);
  else
    for (std::size_t i = 0; i < n; ++i) dst[i] = bfloat16_to_float(s[i]);
}

void narrow(const float* src, void* dst, std::size_t n, DataType t) {
  auto* d = static_cast<uint16_t*>(dst);
  if (t == DataType::kFloat16)
    for (std::size_t i = 0; i < n; ++i) d[i] = float_to_half(src[i]);
  else
    for (std::size_t i = 0; i < n; ++i) d[i] = float_to_bfloat16(src[i]);
}

}  // namespace ringmaster::collectives
