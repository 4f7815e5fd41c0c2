// The device kernels of the CUDA training path (see kernels.h for the layouts and contracts).
#include <cuda_bf16.h>

#include <algorithm>

#include "worker/cuda/kernels.h"

namespace ringmaster::worker::cuda {
namespace {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over `count` elements: enough to fill the GPU, never more than
// needed.
unsigned blocks_for(int64_t count) {
  const int64_t b = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(b, 65535LL * 8)));
}

#define RM_GRID_STRIDE(i, count) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (count); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// The same loop with index type I. The layout kernels below decompose a flat index with divisions
// and remainders, which the GPU emulates in 64 bits at many times the cost of 32: on an H200 they
// took most of the CNN's step (2026-11-30). So they run with I = int32_t whenever the count allows
// (fits_32) and with int64_t otherwise.
#define RM_GRID_STRIDE_I(I, i, count)                                                      \
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); \
       i < (count); i += static_cast<I>(blockDim.x) * static_cast<I>(gridDim.x))

// True when every index of a grid-stride loop over `count` elements, plus one stride (at most
// 65535 * 8 blocks of kThreads), stays below 2^31.
bool fits_32(int64_t count) { return count <= (int64_t{1} << 30); }

// ConvShape with fields of the kernel's index type.
template <typename I>
struct ConvDims {
  I n, ci, h, w, co, k, pad, ho, wo;
};
template <typename I>
ConvDims<I> dims(const ConvShape& s) {
  return {static_cast<I>(s.n),  static_cast<I>(s.ci),  static_cast<I>(s.h),
          static_cast<I>(s.w),  static_cast<I>(s.co),  static_cast<I>(s.k),
          static_cast<I>(s.pad), static_cast<I>(s.ho), static_cast<I>(s.wo)};
}

// Sum over a block of kThreads threads; the result is valid in thread 0.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  T total = 0;
  if (warp == 0) {
    total = lane < kThreads / 32 ? warp_sums[lane] : T(0);
    for (int o = 16; o > 0; o >>= 1) total += __shfl_down_sync(0xffffffffu, total, o);
  }
  __syncthreads();  // warp_sums may be reused by the caller's next call
  return total;
}

template <typename I>
__global__ void bias_activation_kernel(float* y, const float* bias, I rows, I cols, bool relu) {
  RM_GRID_STRIDE_I(I, i, rows * cols) {
    float v = y[i] + bias[i % cols];
    y[i] = relu ? fmaxf(v, 0.0f) : v;
  }
}

__global__ void relu_backward_kernel(float* dy, const float* y, int64_t count) {
  RM_GRID_STRIDE(i, count) {
    const float g = dy[i];
    dy[i] = y[i] > 0.0f ? g : 0.0f;
  }
}

// Block (32, 8): column blockIdx.x * 32 + threadIdx.x, rows of chunk blockIdx.y.
__global__ void column_partial_kernel(const float* x, int64_t rows, int64_t cols, int64_t rows_per_chunk,
                                      float* partial) {
  __shared__ float s[8][33];
  const int64_t col = blockIdx.x * 32LL + threadIdx.x;
  const int64_t begin = blockIdx.y * rows_per_chunk, end = min(rows, begin + rows_per_chunk);
  float acc = 0.0f;
  if (col < cols)
    for (int64_t r = begin + threadIdx.y; r < end; r += 8) acc += x[r * cols + col];
  s[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    float total = 0.0f;
    for (int k = 0; k < 8; ++k) total += s[k][threadIdx.x];
    partial[blockIdx.y * cols + col] = total;
  }
}

__global__ void column_final_kernel(const float* partial, int chunks, int64_t cols, float* out) {
  RM_GRID_STRIDE(c, cols) {
    float total = 0.0f;
    for (int k = 0; k < chunks; ++k) total += partial[k * cols + c];
    out[c] = total;
  }
}

// Grid (chunks, rows), kThreads threads: one segment of one row.
__global__ void row_partial_kernel(const float* x, int64_t cols, int64_t cols_per_chunk, float* partial) {
  const int64_t row = blockIdx.y;
  const int64_t begin = blockIdx.x * cols_per_chunk, end = min(cols, begin + cols_per_chunk);
  float acc = 0.0f;
  for (int64_t c = begin + threadIdx.x; c < end; c += kThreads) acc += x[row * cols + c];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[row * gridDim.x + blockIdx.x] = acc;
}

__global__ void row_final_kernel(const float* partial, int chunks, int64_t rows, float* out) {
  RM_GRID_STRIDE(r, rows) {
    float total = 0.0f;
    for (int k = 0; k < chunks; ++k) total += partial[r * chunks + k];
    out[r] = total;
  }
}

// The per-plane layout kernels (im2col, conv_output and its backward) give each block one row of
// planes (blockIdx.x: a row of col, or an output channel) and kPlaneSamples samples (blockIdx.y).
// A thread works out its position p in the plane once (the only divisions) and then walks the
// samples, each step a coalesced load and store. History, measured by ncu on an H200 at batch
// 1024 (2026-11-30): a flat index with 64-bit divisions, then 32-bit (1.1 ms for conv2's im2col
// in a 4.9 ms step), then one block per (sample, plane) (1.2 ms: 800k tiny blocks).
constexpr int32_t kPlaneSamples = 16;

__global__ void im2col_kernel(const float* x, float* col, ConvDims<int32_t> s) {
  const int32_t r = static_cast<int32_t>(blockIdx.x), n0 = static_cast<int32_t>(blockIdx.y) * kPlaneSamples;
  const int32_t n1 = min(s.n, n0 + kPlaneSamples);
  const int32_t kk = s.k * s.k, c = r / kk, ky = (r - c * kk) / s.k, kx = r - c * kk - ky * s.k;
  const int32_t hw = s.ho * s.wo, plane_in = s.h * s.w;
  const float* in = x + static_cast<int64_t>(c) * plane_in;
  const int64_t in_step = static_cast<int64_t>(s.ci) * plane_in;
  float* out = col + static_cast<int64_t>(r) * s.n * hw;
  for (int32_t p = static_cast<int32_t>(threadIdx.x); p < hw; p += static_cast<int32_t>(blockDim.x)) {
    const int32_t oy = p / s.wo, ox = p - oy * s.wo;
    const int32_t iy = oy + ky - s.pad, ix = ox + kx - s.pad;
    const bool inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
    const int32_t at = inside ? iy * s.w + ix : 0;
#pragma unroll 4
    for (int32_t n = n0; n < n1; ++n)
      out[static_cast<int64_t>(n) * hw + p] = inside ? in[n * in_step + at] : 0.0f;
  }
}

template <typename I>
__global__ void col2im_kernel(const float* dcol, float* dx, ConvDims<I> s) {
  const I hw = s.ho * s.wo, L = s.n * hw, total = s.n * s.ci * s.h * s.w;
  RM_GRID_STRIDE_I(I, i, total) {
    const I q = i / s.w, ix = i - q * s.w, q2 = q / s.h, iy = q - q2 * s.h, n = q2 / s.ci, c = q2 - n * s.ci;
    float acc = 0.0f;
    for (I ky = 0; ky < s.k; ++ky) {
      const I oy = iy + s.pad - ky;
      if (oy < 0 || oy >= s.ho) continue;
      for (I kx = 0; kx < s.k; ++kx) {
        const I ox = ix + s.pad - kx;
        if (ox < 0 || ox >= s.wo) continue;
        acc += dcol[((c * s.k + ky) * s.k + kx) * L + n * hw + oy * s.wo + ox];
      }
    }
    dx[i] = acc;
  }
}

// t [co, L] -> y [n, co, hw], grid (co, samples / kPlaneSamples).
__global__ void conv_output_kernel(const float* t, const float* bias, float* y, ConvDims<int32_t> s, bool relu) {
  const int32_t c = static_cast<int32_t>(blockIdx.x), n0 = static_cast<int32_t>(blockIdx.y) * kPlaneSamples;
  const int32_t n1 = min(s.n, n0 + kPlaneSamples), hw = s.ho * s.wo;
  const float* src = t + static_cast<int64_t>(c) * s.n * hw;
  float* dst = y + static_cast<int64_t>(c) * hw;
  const int64_t dst_step = static_cast<int64_t>(s.co) * hw;
  const float b = bias[c];
  for (int32_t p = static_cast<int32_t>(threadIdx.x); p < hw; p += static_cast<int32_t>(blockDim.x)) {
#pragma unroll 4
    for (int32_t n = n0; n < n1; ++n) {
      const float v = src[static_cast<int64_t>(n) * hw + p] + b;
      dst[n * dst_step + p] = relu ? fmaxf(v, 0.0f) : v;
    }
  }
}

// dy [n, co, hw] (masked by y > 0 under ReLU) -> dt [co, L], the same grid.
__global__ void conv_output_backward_kernel(const float* dy, const float* y, float* dt, ConvDims<int32_t> s,
                                            bool relu) {
  const int32_t c = static_cast<int32_t>(blockIdx.x), n0 = static_cast<int32_t>(blockIdx.y) * kPlaneSamples;
  const int32_t n1 = min(s.n, n0 + kPlaneSamples), hw = s.ho * s.wo;
  float* dst = dt + static_cast<int64_t>(c) * s.n * hw;
  const int64_t src0 = static_cast<int64_t>(c) * hw, src_step = static_cast<int64_t>(s.co) * hw;
  for (int32_t p = static_cast<int32_t>(threadIdx.x); p < hw; p += static_cast<int32_t>(blockDim.x)) {
#pragma unroll 4
    for (int32_t n = n0; n < n1; ++n) {
      const int64_t at = src0 + n * src_step + p;
      const float g = dy[at];
      dst[static_cast<int64_t>(n) * hw + p] = (!relu || y[at] > 0.0f) ? g : 0.0f;
    }
  }
}

template <typename I>
__global__ void maxpool_forward_kernel(const float* x, float* y, int32_t* idx, I planes, I h, I w, I size) {
  const I ho = h / size, wo = w / size, total = planes * ho * wo;
  RM_GRID_STRIDE_I(I, i, total) {
    const I q = i / wo, ox = i - q * wo, plane = q / ho, oy = q - plane * ho;
    const float* xp = x + plane * h * w;
    I best = (oy * size) * w + ox * size;
    for (I dy = 0; dy < size; ++dy)
      for (I dx = 0; dx < size; ++dx) {
        const I j = (oy * size + dy) * w + ox * size + dx;
        if (xp[j] > xp[best]) best = j;
      }
    y[i] = xp[best];
    idx[i] = static_cast<int32_t>(best);
  }
}

template <typename I>
__global__ void maxpool_backward_kernel(const float* dy, const int32_t* idx, float* dx, I planes, I h, I w, I size) {
  const I ho = h / size, wo = w / size, total = planes * ho * wo;
  RM_GRID_STRIDE_I(I, i, total) dx[(i / (ho * wo)) * h * w + idx[i]] = dy[i];
}

// A 24-bit uniform in [0, 1) from (seed, salt, index): splitmix64's finalizer.
__device__ float uniform_at(uint64_t seed, int salt, int64_t i) {
  uint64_t z = seed ^ (0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(salt) + 1)) ^
               (static_cast<uint64_t>(i) * 0xbf58476d1ce4e5b9ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

__global__ void dropout_kernel(const float* x, float* y, int64_t count, float p, int salt,
                               const StepScalars* scalars) {
  const uint64_t seed = scalars->dropout_seed;
  const float scale = 1.0f / (1.0f - p);
  RM_GRID_STRIDE(i, count) y[i] = uniform_at(seed, salt, i) >= p ? x[i] * scale : 0.0f;
}

// One warp per row.
__global__ void softmax_cross_entropy_kernel(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                                             const StepScalars* scalars, float* grad, float* row_loss,
                                             int32_t* row_correct) {
  const int64_t row = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= n) return;
  const float* z = logits + row * c;
  // The first maximum, as the CPU's argmax: the smallest index among equal values.
  float best = -INFINITY;
  int64_t best_j = c;
  for (int64_t j = lane; j < c; j += 32)
    if (z[j] > best) best = z[j], best_j = j;
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t oj = __shfl_xor_sync(0xffffffffu, best_j, o);
    if (ov > best || (ov == best && oj < best_j)) best = ov, best_j = oj;
  }
  float sum = 0.0f;
  for (int64_t j = lane; j < c; j += 32) sum += expf(z[j] - best);
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const int32_t y = labels[row];
  if (grad != nullptr) {
    const float scale = scalars->grad_scale, inv = 1.0f / sum;
    for (int64_t j = lane; j < c; j += 32) grad[row * c + j] = (expf(z[j] - best) * inv - (j == y ? 1.0f : 0.0f)) * scale;
  }
  if (lane == 0) {
    row_loss[row] = logf(sum) - (z[y] - best);
    row_correct[row] = best_j == y ? 1 : 0;
  }
}

__global__ void accumulate_loss_kernel(const float* row_loss, const int32_t* row_correct, int64_t n, double* sums) {
  double loss = 0.0, correct = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) loss += row_loss[i], correct += row_correct[i];
  loss = block_sum(loss);
  correct = block_sum(correct);
  if (threadIdx.x == 0) {
    sums[0] += loss;
    sums[1] += correct;
    sums[2] += static_cast<double>(n);
  }
}

__global__ void sgd_kernel(float* w, const float* g, float* v, int64_t count, float mu, bool nesterov, float wd,
                           const StepScalars* scalars) {
  const float lr = scalars->lr;
  RM_GRID_STRIDE(i, count) {
    const float d = g[i] + wd * w[i];
    if (v == nullptr) {
      w[i] -= lr * d;
    } else {
      const float vi = mu * v[i] + d;
      v[i] = vi;
      w[i] -= lr * (nesterov ? d + mu * vi : vi);
    }
  }
}

__global__ void adam_kernel(float* w, const float* g, float* m, float* v, int64_t count, float b1, float b2, float eps,
                            float wd, const StepScalars* scalars) {
  const float lr = scalars->lr, c1 = scalars->adam_c1, c2 = scalars->adam_c2;
  RM_GRID_STRIDE(i, count) {
    const float d = g[i] + wd * w[i];
    const float mi = b1 * m[i] + (1.0f - b1) * d;
    const float vi = b2 * v[i] + (1.0f - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    w[i] -= lr * (mi * c1) / (sqrtf(vi * c2) + eps);
  }
}

__global__ void to_bfloat16_kernel(const float* x, __nv_bfloat16* y, int64_t count) {
  RM_GRID_STRIDE(i, count) y[i] = __float2bfloat16_rn(x[i]);
}

}  // namespace

cudaError_t bias_activation(float* y, const float* bias, int64_t rows, int64_t cols, bool relu, cudaStream_t stream) {
  if (fits_32(rows * cols))
    bias_activation_kernel<int32_t><<<blocks_for(rows * cols), kThreads, 0, stream>>>(
        y, bias, static_cast<int32_t>(rows), static_cast<int32_t>(cols), relu);
  else
    bias_activation_kernel<int64_t><<<blocks_for(rows * cols), kThreads, 0, stream>>>(y, bias, rows, cols, relu);
  return cudaGetLastError();
}

cudaError_t relu_backward(float* dy, const float* y, int64_t count, cudaStream_t stream) {
  relu_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, y, count);
  return cudaGetLastError();
}

int sum_chunks(int64_t rows) { return static_cast<int>(std::clamp<int64_t>(rows / 256, 1, 128)); }

cudaError_t column_sums(const float* x, int64_t rows, int64_t cols, float* partial, float* out, cudaStream_t stream) {
  const int chunks = sum_chunks(rows);
  const int64_t per_chunk = (rows + chunks - 1) / chunks;
  const dim3 grid(static_cast<unsigned>((cols + 31) / 32), static_cast<unsigned>(chunks));
  column_partial_kernel<<<grid, dim3(32, 8), 0, stream>>>(x, rows, cols, per_chunk, partial);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  column_final_kernel<<<blocks_for(cols), kThreads, 0, stream>>>(partial, chunks, cols, out);
  return cudaGetLastError();
}

cudaError_t row_sums(const float* x, int64_t rows, int64_t cols, float* partial, float* out, cudaStream_t stream) {
  const int chunks = sum_chunks(cols);
  const int64_t per_chunk = (cols + chunks - 1) / chunks;
  row_partial_kernel<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(rows)), kThreads, 0, stream>>>(
      x, cols, per_chunk, partial);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  row_final_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(partial, chunks, rows, out);
  return cudaGetLastError();
}

// Threads per block for a plane of hw elements: whole warps, at most kThreads.
unsigned plane_threads(int64_t hw) { return static_cast<unsigned>(std::min<int64_t>(kThreads, (hw + 31) / 32 * 32)); }

// The per-plane grids: `planes` blocks across (CUDA allows 2^31 - 1) and n / kPlaneSamples down
// (at most 65535), with a plane's elements in 32 bits.
dim3 plane_grid(int64_t planes, int64_t n) {
  return dim3(static_cast<unsigned>(planes), static_cast<unsigned>((n + kPlaneSamples - 1) / kPlaneSamples));
}
bool plane_grid_fits(const ConvShape& s, int64_t planes) {
  return planes <= 0x7fffffff && (s.n + kPlaneSamples - 1) / kPlaneSamples <= 65535 && s.h * s.w <= 0x7fffffff &&
         s.ho * s.wo <= 0x7fffffff;
}

cudaError_t im2col(const float* x, float* col, const ConvShape& s, cudaStream_t stream) {
  if (!plane_grid_fits(s, s.rows())) return cudaErrorInvalidConfiguration;
  im2col_kernel<<<plane_grid(s.rows(), s.n), plane_threads(s.ho * s.wo), 0, stream>>>(x, col, dims<int32_t>(s));
  return cudaGetLastError();
}

cudaError_t col2im(const float* dcol, float* dx, const ConvShape& s, cudaStream_t stream) {
  // Its dcol index reaches rows() * columns(), so that is the count that must fit.
  const int64_t total = s.n * s.ci * s.h * s.w;
  if (fits_32(std::max(total, s.rows() * s.columns())))
    col2im_kernel<int32_t><<<blocks_for(total), kThreads, 0, stream>>>(dcol, dx, dims<int32_t>(s));
  else
    col2im_kernel<int64_t><<<blocks_for(total), kThreads, 0, stream>>>(dcol, dx, dims<int64_t>(s));
  return cudaGetLastError();
}

cudaError_t conv_output(const float* t, const float* bias, float* y, const ConvShape& s, bool relu,
                        cudaStream_t stream) {
  if (!plane_grid_fits(s, s.co)) return cudaErrorInvalidConfiguration;
  conv_output_kernel<<<plane_grid(s.co, s.n), plane_threads(s.ho * s.wo), 0, stream>>>(t, bias, y, dims<int32_t>(s),
                                                                                        relu);
  return cudaGetLastError();
}

cudaError_t conv_output_backward(const float* dy, const float* y, float* dt, const ConvShape& s, bool relu,
                                 cudaStream_t stream) {
  if (!plane_grid_fits(s, s.co)) return cudaErrorInvalidConfiguration;
  conv_output_backward_kernel<<<plane_grid(s.co, s.n), plane_threads(s.ho * s.wo), 0, stream>>>(
      dy, y, dt, dims<int32_t>(s), relu);
  return cudaGetLastError();
}

cudaError_t maxpool_forward(const float* x, float* y, int32_t* idx, int64_t planes, int64_t h, int64_t w, int64_t size,
                            cudaStream_t stream) {
  const int64_t outputs = planes * (h / size) * (w / size);
  if (fits_32(planes * h * w))
    maxpool_forward_kernel<int32_t><<<blocks_for(outputs), kThreads, 0, stream>>>(
        x, y, idx, static_cast<int32_t>(planes), static_cast<int32_t>(h), static_cast<int32_t>(w),
        static_cast<int32_t>(size));
  else
    maxpool_forward_kernel<int64_t><<<blocks_for(outputs), kThreads, 0, stream>>>(x, y, idx, planes, h, w, size);
  return cudaGetLastError();
}

cudaError_t maxpool_backward(const float* dy, const int32_t* idx, float* dx, int64_t planes, int64_t h, int64_t w,
                             int64_t size, cudaStream_t stream) {
  if (cudaError_t e = cudaMemsetAsync(dx, 0, static_cast<size_t>(planes * h * w) * sizeof(float), stream);
      e != cudaSuccess)
    return e;
  const int64_t outputs = planes * (h / size) * (w / size);
  if (fits_32(planes * h * w))
    maxpool_backward_kernel<int32_t><<<blocks_for(outputs), kThreads, 0, stream>>>(
        dy, idx, dx, static_cast<int32_t>(planes), static_cast<int32_t>(h), static_cast<int32_t>(w),
        static_cast<int32_t>(size));
  else
    maxpool_backward_kernel<int64_t><<<blocks_for(outputs), kThreads, 0, stream>>>(dy, idx, dx, planes, h, w, size);
  return cudaGetLastError();
}

cudaError_t dropout_forward(const float* x, float* y, int64_t count, float p, int salt, const StepScalars* scalars,
                            cudaStream_t stream) {
  dropout_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count, p, salt, scalars);
  return cudaGetLastError();
}

cudaError_t dropout_backward(const float* dy, float* dx, int64_t count, float p, int salt, const StepScalars* scalars,
                             cudaStream_t stream) {
  // The same mask and scale: d(x * mask * scale)/dx = mask * scale.
  dropout_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, dx, count, p, salt, scalars);
  return cudaGetLastError();
}

cudaError_t softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                                  const StepScalars* scalars, float* grad, float* row_loss, int32_t* row_correct,
                                  cudaStream_t stream) {
  const int64_t threads = n * 32;
  const auto blocks = static_cast<unsigned>((threads + kThreads - 1) / kThreads);
  softmax_cross_entropy_kernel<<<blocks, kThreads, 0, stream>>>(logits, labels, n, c, scalars, grad, row_loss,
                                                                row_correct);
  return cudaGetLastError();
}

cudaError_t accumulate_loss(const float* row_loss, const int32_t* row_correct, int64_t n, double* sums,
                            cudaStream_t stream) {
  accumulate_loss_kernel<<<1, kThreads, 0, stream>>>(row_loss, row_correct, n, sums);
  return cudaGetLastError();
}

cudaError_t sgd_update(float* w, const float* g, float* velocity, int64_t count, float momentum, bool nesterov,
                       float weight_decay, const StepScalars* scalars, cudaStream_t stream) {
  sgd_kernel<<<blocks_for(count), kThreads, 0, stream>>>(w, g, velocity, count, momentum, nesterov, weight_decay,
                                                         scalars);
  return cudaGetLastError();
}

cudaError_t adam_update(float* w, const float* g, float* m, float* v, int64_t count, float beta1, float beta2,
                        float epsilon, float weight_decay, const StepScalars* scalars, cudaStream_t stream) {
  adam_kernel<<<blocks_for(count), kThreads, 0, stream>>>(w, g, m, v, count, beta1, beta2, epsilon, weight_decay,
                                                          scalars);
  return cudaGetLastError();
}

cudaError_t to_bfloat16(const float* x, uint16_t* y, int64_t count, cudaStream_t stream) {
  to_bfloat16_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, reinterpret_cast<__nv_bfloat16*>(y), count);
  return cudaGetLastError();
}

}  // namespace ringmaster::worker::cuda
