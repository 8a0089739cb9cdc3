#include <cuda_runtime.h>

#include <cmath>
#include <vector>

#include "cuda/cuda_common.cuh"
#include "cuda/cuda_device.h"

namespace skipdit::cuda {

namespace {

class DeviceBuffer final : public Buffer {
 public:
  DeviceBuffer(void* data, size_t bytes) : Buffer(data, bytes, Device::CUDA) {}
  ~DeviceBuffer() override { cudaFree(data_); }
};

void require_available() {
  const Availability& a = availability();
  if (!a.available) fail(ErrorKind::BackendUnavailable, "CUDA unavailable: " + a.reason);
}

__global__ void axpy_kernel(float a, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = fmaf(a, x[i], y[i]);
}

}  // namespace

const Availability& availability() {
  static const Availability a = [] {
    Availability r;
    r.compiled = true;
#ifdef SKIPDIT_CUDA_ARCHS
    {
      std::string archs = SKIPDIT_CUDA_ARCHS, cur;
      for (char ch : archs + ",") {
        if (ch == ',') {
          if (!cur.empty()) r.architectures.push_back("sm_" + cur);
          cur.clear();
        } else {
          cur += ch;
        }
      }
    }
#endif
    cudaRuntimeGetVersion(&r.runtime_version);
    cudaError_t derr = cudaDriverGetVersion(&r.driver_version);
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (derr == cudaSuccess && r.driver_version == 0) {
      r.reason = "no NVIDIA driver is installed";
    } else if (err != cudaSuccess) {
      r.reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err) +
                 (err == cudaErrorInsufficientDriver ? " (the CUDA 13 runtime needs driver 580 or newer)" : "");
    } else if (count == 0) {
      r.reason = "no CUDA device found";
    } else {
      for (int i = 0; i < count; ++i) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
        r.devices.push_back({i, prop.name, prop.major, prop.minor, prop.totalGlobalMem, prop.multiProcessorCount});
      }
      r.available = !r.devices.empty();
      if (!r.available) r.reason = "device properties could not be read";
    }
    cudaGetLastError();  // clear any sticky error from probing
    return r;
  }();
  return a;
}

std::shared_ptr<Buffer> allocate(size_t bytes, int device) {
  require_available();
  CUDA_CHECK(cudaSetDevice(device));
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  return std::make_shared<DeviceBuffer>(p, bytes);
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void axpy(float a, const float* x, float* y, int64_t n) {
  if (n <= 0) return;
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 4096));
  axpy_kernel<<<blocks, threads>>>(a, x, y, n);
  check_launch("axpy", nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
}

std::string self_test() {
  const Availability& a = availability();
  if (!a.available) return "CUDA unavailable: " + a.reason;
  try {
    const int64_t n = 1000003;  // not a multiple of the block size
    std::vector<float> x(n), y(n), out(n);
    for (int64_t i = 0; i < n; ++i) {
      x[i] = std::sin(0.001f * i);
      y[i] = std::cos(0.002f * i);
    }
    auto dx = allocate(n * sizeof(float)), dy = allocate(n * sizeof(float));
    copy_to_device(dx->data(), x.data(), n * sizeof(float));
    copy_to_device(dy->data(), y.data(), n * sizeof(float));
    axpy(1.5f, static_cast<float*>(dx->data()), static_cast<float*>(dy->data()), n);
    copy_to_host(out.data(), dy->data(), n * sizeof(float));
    for (int64_t i = 0; i < n; ++i)
      if (out[i] != std::fma(1.5f, x[i], y[i]))
        return "axpy mismatch at " + std::to_string(i) + ": " + std::to_string(out[i]);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace skipdit::cuda
