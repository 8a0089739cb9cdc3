#include "cuda/cuda_common.cuh"

#include <cstdlib>

namespace skipdit::cuda {

bool sync_after_launch() {
  static const bool on = [] {
    const char* v = std::getenv("SKIPDIT_CUDA_SYNC");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  std::string msg = std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ") in " +
                    what + " at " + file + ":" + std::to_string(line);
  ErrorKind kind = ErrorKind::Internal;
  switch (err) {
    case cudaErrorMemoryAllocation: {
      size_t free_b = 0, total_b = 0;
      cudaGetLastError();
      if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        msg += " - out of device memory (" + std::to_string(free_b >> 20) + " MiB free of " +
               std::to_string(total_b >> 20) + " MiB); use a smaller batch, float16/bfloat16, or the cpu backend";
      kind = ErrorKind::BackendUnavailable;
      break;
    }
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
      msg += std::string(" - this build has no code for this GPU (built for ") + SKIPDIT_CUDA_ARCHS +
             "); rebuild with CMAKE_CUDA_ARCHITECTURES set to its compute capability";
      kind = ErrorKind::BackendUnavailable;
      break;
    case cudaErrorInsufficientDriver:
      msg += " - the CUDA 13 runtime needs NVIDIA driver 580 or newer";
      kind = ErrorKind::BackendUnavailable;
      break;
    case cudaErrorNoDevice:
    case cudaErrorInvalidDevice:
    case cudaErrorDevicesUnavailable:
      kind = ErrorKind::BackendUnavailable;
      break;
    default:
      break;
  }
  throw Error(kind, msg);
}

void check_launch(const char* op, cudaStream_t stream) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && sync_after_launch()) err = cudaStreamSynchronize(stream);
  if (err != cudaSuccess) throw_cuda_error(err, op, "kernel launch", 0);
}

}  // namespace skipdit::cuda
