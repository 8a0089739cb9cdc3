// Tensor: a dtype, a row-major contiguous shape and a view into a reference-counted buffer.
//
// Buffers can live in host memory (aligned allocation), in a memory-mapped file (read-only weights) or on
// a device (CUDA); the tensor does not care which, the backend that computes on it does. Only float32 is
// computed today; F16/BF16 exist so low-precision weights and activations can be added without changing
// the interfaces, I64 carries labels and timesteps from the caller.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace skipdit {

enum class DType : uint8_t { F32, F16, BF16, I64 };
enum class Device : uint8_t { CPU, CUDA };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);
int64_t shape_numel(const Shape& shape);

// Owner of raw memory. Subclasses free it the right way (free, munmap, cudaFree).
class Buffer {
 public:
  virtual ~Buffer() = default;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 protected:
  Buffer(void* data, size_t bytes, Device device) : data_(data), bytes_(bytes), device_(device) {}
  void* data_;
  size_t bytes_;
  Device device_;
};

// 64-byte aligned host memory (one cache line, one AVX-512 register).
class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes);
  ~HostBuffer() override;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Buffer> buffer, size_t offset_bytes, DType dtype, Shape shape);

  // A new zero-filled host tensor.
  static Tensor host(DType dtype, Shape shape);

  bool defined() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return buffer_ ? buffer_->device() : Device::CPU; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return numel() * dtype_size(dtype_); }

  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  void* raw() const { return static_cast<char*>(buffer_->data()) + offset_; }
  float* f32() const;        // checks dtype F32
  const int64_t* i64() const;  // checks dtype I64

  // Same memory, another shape with the same number of elements.
  Tensor reshape(Shape shape) const;
  // Rows [begin, end) of the leading dimension, sharing memory.
  Tensor slice_rows(int64_t begin, int64_t end) const;

  std::string describe() const;  // e.g. "f32[2, 16, 64]"

 private:
  std::shared_ptr<Buffer> buffer_;
  size_t offset_ = 0;
  DType dtype_ = DType::F32;
  Shape shape_;
};

}  // namespace skipdit
