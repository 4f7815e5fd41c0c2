// Tensor: an owning, contiguous, row-major float32 array with a shape and 64-byte aligned storage.
//
// Storage has a capacity: resize() to a shape that fits keeps the buffer (contents unspecified), so
// the train loop can reshape activations for a short last batch without allocating. Copying a
// Tensor copies its data. Not thread-safe to mutate from two threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace ringmaster::worker {

using Shape = std::vector<int64_t>;

// Number of elements of a shape (1 for the empty shape).
int64_t shape_size(const Shape& shape);
// {n, sample...}: the shape of a batch of n samples.
Shape batch_shape(int64_t n, const Shape& sample);
// "[128, 784]"
std::string shape_string(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of the given shape.
  explicit Tensor(Shape shape);
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  // Changes the shape; reallocates only when the new size exceeds the capacity. Contents are
  // unspecified afterwards unless the size is unchanged.
  void resize(const Shape& shape);

  const Shape& shape() const { return shape_; }
  int64_t dim(std::size_t i) const { return shape_[i]; }
  int64_t size() const { return size_; }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  std::span<float> span() { return {data_.get(), static_cast<std::size_t>(size_)}; }
  std::span<const float> span() const { return {data_.get(), static_cast<std::size_t>(size_)}; }
  float& operator[](int64_t i) { return data_.get()[i]; }
  float operator[](int64_t i) const { return data_.get()[i]; }

  void fill(float value);
  void zero() { fill(0.0f); }

 private:
  struct AlignedFree {
    void operator()(float* p) const;
  };
  Shape shape_;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
  std::unique_ptr<float[], AlignedFree> data_;
};

// 64-byte aligned float storage that is not a Tensor (parameter arenas, batch buffers).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t count);  // zero-filled
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::span<float> span() { return {data_.get(), size_}; }
  std::span<const float> span() const { return {data_.get(), size_}; }

 private:
  struct AlignedFree {
    void operator()(float* p) const;
  };
  std::size_t size_ = 0;
  std::unique_ptr<float[], AlignedFree> data_;
};

}  // namespace ringmaster::worker
