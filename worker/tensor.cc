#include "worker/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace ringmaster::worker {
namespace {

constexpr std::size_t kAlignment = 64;

float* aligned_floats(std::size_t count) {
  if (count == 0) return nullptr;
  std::size_t bytes = (count * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, bytes);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<float*>(p);
}

}  // namespace

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_string(shape));
    n *= d;
  }
  return n;
}

Shape batch_shape(int64_t n, const Shape& sample) {
  Shape s;
  s.reserve(sample.size() + 1);
  s.push_back(n);
  for (int64_t d : sample) s.push_back(d);
  return s;
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void Tensor::AlignedFree::operator()(float* p) const { std::free(p); }
void AlignedBuffer::AlignedFree::operator()(float* p) const { std::free(p); }

Tensor::Tensor(Shape shape) {
  resize(shape);
  zero();
}

Tensor::Tensor(const Tensor& other) { *this = other; }

Tensor& Tensor::operator=(const Tensor& other) {
  if (this == &other) return *this;
  resize(other.shape_);
  if (size_ > 0) std::memcpy(data_.get(), other.data_.get(), static_cast<std::size_t>(size_) * sizeof(float));
  return *this;
}

void Tensor::resize(const Shape& shape) {
  int64_t n = shape_size(shape);
  if (n > capacity_) {
    data_.reset(aligned_floats(static_cast<std::size_t>(n)));
    capacity_ = n;
  }
  shape_ = shape;
  size_ = n;
}

void Tensor::fill(float value) { std::fill_n(data_.get(), size_, value); }

AlignedBuffer::AlignedBuffer(std::size_t count) : size_(count), data_(aligned_floats(count)) {
  if (count) std::memset(data_.get(), 0, count * sizeof(float));
}

}  // namespace ringmaster::worker
