// The CUDA device layer: discovery, device memory and a first kernel. Plain C++ interface (no CUDA
// headers), implemented by cuda_device.cu when nvcc is found at build time and by cuda_unavailable.cpp
// otherwise, so the rest of the addon builds and runs the same either way.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace skipdit::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  size_t total_memory = 0;
  int multiprocessors = 0;
};

struct Availability {
  bool compiled = false;   // the addon was built with nvcc
  bool available = false;  // at least one usable device and a new enough driver
  std::string reason;      // why not, when !available
  int driver_version = 0, runtime_version = 0;
  std::vector<DeviceInfo> devices;
  std::vector<std::string> architectures;  // what the binary was compiled for, e.g. "sm_80"
};

// Probed once and cached; never throws.
const Availability& availability();

// Device memory as a tensor Buffer (cudaFree on release). Throws BackendUnavailable / Internal.
std::shared_ptr<Buffer> allocate(size_t bytes, int device = 0);
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);

// y = a * x + y on the device (n floats): the first kernel, used by the self-test.
void axpy(float a, const float* x, float* y, int64_t n);

// Uploads a small vector, runs axpy, downloads and compares with the CPU; returns "" or what went wrong.
std::string self_test();

}  // namespace skipdit::cuda
