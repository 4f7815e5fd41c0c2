// Element types and reduction operators of the collectives, and the reduction kernels every
// transport and algorithm shares. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ringmaster::collectives {

enum class DataType : uint8_t { kFloat32, kFloat64, kInt32, kInt64, kFloat16, kBFloat16 };
enum class ReduceOp : uint8_t { kSum, kAverage, kMin, kMax };

std::size_t element_size(DataType t);
const char* name(DataType t);  // "float32"
const char* name(ReduceOp op);  // "sum"

// dst[i] = op(dst[i], src[i]) for i < count. kAverage reduces as kSum (the caller divides once at
// the end). REQUIRES: dst and src do not overlap, t is not a 16-bit type (those are widened to
// float32 before reducing, so the accumulation is float32).
void reduce_into(void* dst, const void* src, std::size_t count, DataType t, ReduceOp op);
// data[i] /= divisor (integer division for integer types).
void divide(void* data, std::size_t count, DataType t, int64_t divisor);

// IEEE half and bfloat16 <-> float32 (round to nearest even; NaN stays NaN).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bfloat16_to_float(uint16_t b);
uint16_t float_to_bfloat16(float f);
// Widen count 16-bit values of type t to float32, and narrow back.
void widen(const void* src, float* dst, std::size_t count, DataType t);
void narrow(const float* src, void* dst, std::size_t count, DataType t);

}  // namespace ringmaster::collectives
