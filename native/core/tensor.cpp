#include "core/tensor.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace skipdit {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::I64: return "int64";
  }
  return "?";
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Large buffers come straight from the kernel: zero pages, returned on free. Through malloc, the float32
// intermediates of a model load stayed in glibc's heap once its mmap threshold had risen past them (it
// rises after the first large free): ~400 MB of dead resident memory for DiT-XL/2 in bf16.
constexpr size_t kMapBytes = size_t(1) << 20;

HostBuffer::HostBuffer(size_t bytes) : Buffer(nullptr, bytes, Device::CPU) {
  if (bytes >= kMapBytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail(ErrorKind::Internal, "out of host memory allocating " + std::to_string(bytes) + " bytes");
    data_ = p;
    return;
  }
  size_t rounded = (bytes + 63) / 64 * 64;
  data_ = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!data_) fail(ErrorKind::Internal, "out of host memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(data_, 0, rounded ? rounded : 64);
}

HostBuffer::~HostBuffer() {
  if (bytes_ >= kMapBytes) ::munmap(data_, bytes_);
  else std::free(data_);
}

Tensor::Tensor(std::shared_ptr<Buffer> buffer, size_t offset_bytes, DType dtype, Shape shape)
    : buffer_(std::move(buffer)), offset_(offset_bytes), dtype_(dtype), shape_(std::move(shape)) {
  SKIPDIT_CHECK(buffer_ && offset_ + nbytes() <= buffer_->bytes(), "tensor view exceeds its buffer");
}

Tensor Tensor::host(DType dtype, Shape shape) {
  size_t bytes = shape_numel(shape) * dtype_size(dtype);
  return Tensor(std::make_shared<HostBuffer>(bytes), 0, dtype, std::move(shape));
}

float* Tensor::f32() const {
  SKIPDIT_CHECK(dtype_ == DType::F32, "expected a float32 tensor, got " + describe());
  return static_cast<float*>(raw());
}

const int64_t* Tensor::i64() const {
  SKIPDIT_CHECK(dtype_ == DType::I64, "expected an int64 tensor, got " + describe());
  return static_cast<const int64_t*>(raw());
}

Tensor Tensor::reshape(Shape shape) const {
  SKIPDIT_CHECK(shape_numel(shape) == numel(), "reshape " + describe() + " to " + shape_str(shape));
  return Tensor(buffer_, offset_, dtype_, std::move(shape));
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  SKIPDIT_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0], "slice of " + describe());
  Shape s = shape_;
  s[0] = end - begin;
  size_t row_bytes = (shape_[0] ? nbytes() / shape_[0] : 0);
  return Tensor(buffer_, offset_ + begin * row_bytes, dtype_, std::move(s));
}

std::string Tensor::describe() const {
  const char* short_name = dtype_ == DType::F32 ? "f32" : dtype_ == DType::F16 ? "f16" : dtype_ == DType::BF16 ? "bf16" : "i64";
  return std::string(short_name) + shape_str(shape_);
}

}  // namespace skipdit
