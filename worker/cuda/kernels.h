// The device kernels of the CUDA training path (kernels.cu), as host functions that enqueue one
// kernel on a stream and return cudaGetLastError() of the launch (check it: a launch error is only
// reported there). Every array is device memory, row-major, float32 unless said otherwise.
//
// Layouts follow the CPU layers (worker/layers.h) exactly, so the two paths compute the same
// numbers up to summation order:
//   activations   [n, features] or NCHW [n, c, h, w]
//   im2col        col[(c*k + ky)*k + kx][s*ho*wo + oy*wo + ox]: one matrix for the whole batch, so a
//                 convolution is one GEMM (W [co, ci*k*k] x col -> t [co, n*ho*wo])
//   conv output   t [co, n*hw] is permuted to NCHW with the bias (and ReLU) in the same pass
// Sums over the batch (bias gradients, the loss) are deterministic: partial sums per chunk, then a
// second pass; no float atomics.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ringmaster::worker::cuda {

// What one step reads from device memory rather than from kernel arguments, so a captured CUDA
// graph replays with the step's own values (the host copies these in at the start of the step).
struct StepScalars {
  float lr = 0.0f;
  float grad_scale = 0.0f;  // d(loss)/d(logits) factor: share of the global batch / rows in it
  float adam_c1 = 1.0f;     // 1 / (1 - beta1^t)
  float adam_c2 = 1.0f;     // 1 / (1 - beta2^t)
  uint64_t dropout_seed = 0;
};

// y[r][c] += bias[c], then max(., 0) when relu.
cudaError_t bias_activation(float* y, const float* bias, int64_t rows, int64_t cols, bool relu, cudaStream_t stream);
// dy[i] = y[i] > 0 ? dy[i] : 0, where y is the ReLU's output.
cudaError_t relu_backward(float* dy, const float* y, int64_t count, cudaStream_t stream);

// out[c] = sum over r of x[r][c] for x [rows, cols]; partial holds sum_chunks(rows) * cols floats.
int sum_chunks(int64_t rows);
cudaError_t column_sums(const float* x, int64_t rows, int64_t cols, float* partial, float* out, cudaStream_t stream);
// out[r] = sum over c of x[r][c]; partial holds rows * sum_chunks(cols) floats.
cudaError_t row_sums(const float* x, int64_t rows, int64_t cols, float* partial, float* out, cudaStream_t stream);

struct ConvShape {
  int64_t n = 0, ci = 0, h = 0, w = 0, co = 0, k = 0, pad = 0, ho = 0, wo = 0;
  __host__ __device__ int64_t columns() const { return n * ho * wo; }  // L, the width of col and t
  __host__ __device__ int64_t rows() const { return ci * k * k; }      // ckk, the height of col
};
// x [n, ci, h, w] -> col [ckk, L]
cudaError_t im2col(const float* x, float* col, const ConvShape& s, cudaStream_t stream);
// The adjoint: dcol [ckk, L] -> dx [n, ci, h, w] (overwritten, gathered without atomics).
cudaError_t col2im(const float* dcol, float* dx, const ConvShape& s, cudaStream_t stream);
// t [co, L] -> y [n, co, hw] with y = t + bias[c] (and ReLU).
cudaError_t conv_output(const float* t, const float* bias, float* y, const ConvShape& s, bool relu, cudaStream_t stream);
// dy [n, co, hw] (masked by y > 0 when relu) -> dt [co, L].
cudaError_t conv_output_backward(const float* dy, const float* y, float* dt, const ConvShape& s, bool relu,
                                 cudaStream_t stream);

// Max pooling with window and stride `size` over `planes` planes of h x w; idx holds the argmax's
// index in its plane (the first maximum, as the CPU layer).
cudaError_t maxpool_forward(const float* x, float* y, int32_t* idx, int64_t planes, int64_t h, int64_t w, int64_t size,
                            cudaStream_t stream);
// dx [planes, h, w] = 0 except dx[argmax] = dy (the windows do not overlap).
cudaError_t maxpool_backward(const float* dy, const int32_t* idx, float* dx, int64_t planes, int64_t h, int64_t w,
                             int64_t size, cudaStream_t stream);

// Inverted dropout with a counter-based mask: element i of layer `salt` is kept when
// hash(scalars->dropout_seed, salt, i) >= p, and scaled by 1/(1-p). backward applies the same mask.
cudaError_t dropout_forward(const float* x, float* y, int64_t count, float p, int salt, const StepScalars* scalars,
                            cudaStream_t stream);
cudaError_t dropout_backward(const float* dy, float* dx, int64_t count, float p, int salt, const StepScalars* scalars,
                             cudaStream_t stream);

// Softmax cross-entropy of logits [n, c]: row_loss[i] = logsumexp(z_i) - z_i[y_i], row_correct[i] =
// argmax(z_i) == y_i and, when grad is not null, grad = (softmax - onehot) * scalars->grad_scale.
cudaError_t softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t c,
                                  const StepScalars* scalars, float* grad, float* row_loss, int32_t* row_correct,
                                  cudaStream_t stream);
// sums[0] += sum of row_loss, sums[1] += sum of row_correct, sums[2] += n (double; one block).
cudaError_t accumulate_loss(const float* row_loss, const int32_t* row_correct, int64_t n, double* sums,
                            cudaStream_t stream);

// The optimizers of worker/optimizer.h, elementwise; the learning rate and Adam's bias corrections
// come from scalars.
cudaError_t sgd_update(float* w, const float* g, float* velocity, int64_t count, float momentum, bool nesterov,
                       float weight_decay, const StepScalars* scalars, cudaStream_t stream);
cudaError_t adam_update(float* w, const float* g, float* m, float* v, int64_t count, float beta1, float beta2,
                        float epsilon, float weight_decay, const StepScalars* scalars, cudaStream_t stream);

// float32 -> bfloat16 (round to nearest even), stored as raw 16-bit words.
cudaError_t to_bfloat16(const float* x, uint16_t* y, int64_t count, cudaStream_t stream);

}  // namespace ringmaster::worker::cuda
