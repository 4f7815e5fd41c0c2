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

__global__ void bias_activation_kernel(float* y, const float* bias, int64_t rows, int64_t cols, bool relu) {
  RM_GRID_STRIDE(i, rows * cols) {
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

__global__ void im2col_kernel(const float* x, float* col, ConvShape s) {
  const int64_t hw = s.ho * s.wo, L = s.n * hw, total = s.rows() * L;
  RM_GRID_STRIDE(i, total) {
    const int64_t r = i / L, j = i % L;
    const int64_t n = j / hw, p = j % hw, oy = p / s.wo, ox = p % s.wo;
    const int64_t c = r / (s.k * s.k), ky = (r / s.k) % s.k, kx = r % s.k;
    const int64_t iy = oy + ky - s.pad, ix = ox + kx - s.pad;
    col[i] = (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) ? x[((n * s.ci + c) * s.h + iy) * s.w + ix] : 0.0f;
  }
}

__global__ void col2im_kernel(const float* dcol, float* dx, ConvShape s) {
  const int64_t hw = s.ho * s.wo, L = s.n * hw, total = s.n * s.ci * s.h * s.w;
  RM_GRID_STRIDE(i, total) {
    const int64_t ix = i % s.w, iy = (i / s.w) % s.h, c = (i / (s.w * s.h)) % s.ci, n = i / (s.w * s.h * s.ci);
    float acc = 0.0f;
    for (int64_t ky = 0; ky < s.k; ++ky) {
      const int64_t oy = iy + s.pad - ky;
      if (oy < 0 || oy >= s.ho) continue;
      for (int64_t kx = 0; kx < s.k; ++kx) {
        const int64_t ox = ix + s.pad - kx;
        if (ox < 0 || ox >= s.wo) continue;
        acc += dcol[((c * s.k + ky) * s.k + kx) * L + n * hw + oy * s.wo + ox];
      }
    }
    dx[i] = acc;
  }
}

__global__ void conv_output_kernel(const float* t, const float* bias, float* y, ConvShape s, bool relu) {
  const int64_t hw = s.ho * s.wo, L = s.n * hw, total = s.n * s.co * hw;
  RM_GRID_STRIDE(i, total) {
    const int64_t p = i % hw, c = (i / hw) % s.co, n = i / (hw * s.co);
    const float v = t[c * L + n * hw + p] + bias[c];
    y[i] = relu ? fmaxf(v, 0.0f) : v;
  }
}

__global__ void conv_output_backward_kernel(const float* dy, const float* y, float* dt, ConvShape s, bool relu) {
  const int64_t hw = s.ho * s.wo, L = s.n * hw, total = s.co * L;
  RM_GRID_STRIDE(i, total) {
    const int64_t c = i / L, j = i % L, n = j / hw, p = j % hw;
    const int64_t src = (n * s.co + c) * hw + p;
    const float g = dy[src];
    dt[i] = (!relu || y[src] > 0.0f) ? g : 0.0f;
  }
}

__global__ void maxpool_forward_kernel(const float* x, float* y, int32_t* idx, int64_t planes, int64_t h, int64_t w,
                                       int64_t size) {
  const int64_t ho = h / size, wo = w / size, total = planes * ho * wo;
  RM_GRID_STRIDE(i, total) {
    const int64_t ox = i % wo, oy = (i / wo) % ho, plane = i / (wo * ho);
    const float* xp = x + plane * h * w;
    int64_t best = (oy * size) * w + ox * size;
    for (int64_t dy = 0; dy < size; ++dy)
      for (int64_t dx = 0; dx < size; ++dx) {
        const int64_t j = (oy * size + dy) * w + ox * size + dx;
        if (xp[j] > xp[best]) best = j;
      }
    y[i] = xp[best];
    idx[i] = static_cast<int32_t>(best);
  }
}

__global__ void maxpool_backward_kernel(const float* dy, const int32_t* idx, float* dx, int64_t planes, int64_t h,
                                        int64_t w, int64_t size) {
  const int64_t ho = h / size, wo = w / size, total = planes * ho * wo;
  RM_GRID_STRIDE(i, total) dx[(i / (ho * wo)) * h * w + idx[i]] = dy[i];
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
  bias_activation_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(y, bias, rows, cols, relu);
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

cudaError_t im2col(const float* x, float* col, const ConvShape& s, cudaStream_t stream) {
  im2col_kernel<<<blocks_for(s.rows() * s.columns()), kThreads, 0, stream>>>(x, col, s);
  return cudaGetLastError();
}

cudaError_t col2im(const float* dcol, float* dx, const ConvShape& s, cudaStream_t stream) {
  col2im_kernel<<<blocks_for(s.n * s.ci * s.h * s.w), kThreads, 0, stream>>>(dcol, dx, s);
  return cudaGetLastError();
}

cudaError_t conv_output(const float* t, const float* bias, float* y, const ConvShape& s, bool relu,
                        cudaStream_t stream) {
  conv_output_kernel<<<blocks_for(s.co * s.columns()), kThreads, 0, stream>>>(t, bias, y, s, relu);
  return cudaGetLastError();
}

cudaError_t conv_output_backward(const float* dy, const float* y, float* dt, const ConvShape& s, bool relu,
                                 cudaStream_t stream) {
  conv_output_backward_kernel<<<blocks_for(s.co * s.columns()), kThreads, 0, stream>>>(dy, y, dt, s, relu);
  return cudaGetLastError();
}

cudaError_t maxpool_forward(const float* x, float* y, int32_t* idx, int64_t planes, int64_t h, int64_t w, int64_t size,
                            cudaStream_t stream) {
  maxpool_forward_kernel<<<blocks_for(planes * (h / size) * (w / size)), kThreads, 0, stream>>>(x, y, idx, planes, h,
                                                                                                   w, size);
  return cudaGetLastError();
}

cudaError_t maxpool_backward(const float* dy, const int32_t* idx, float* dx, int64_t planes, int64_t h, int64_t w,
                             int64_t size, cudaStream_t stream) {
  if (cudaError_t e = cudaMemsetAsync(dx, 0, static_cast<size_t>(planes * h * w) * sizeof(float), stream);
      e != cudaSuccess)
    return e;
  maxpool_backward_kernel<<<blocks_for(planes * (h / size) * (w / size)), kThreads, 0, stream>>>(dy, idx, dx, planes,
                                                                                                    h, w, size);
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
