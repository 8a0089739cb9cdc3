// Built when nvcc was not found: the CUDA backend reports why it cannot be used.
#include "cuda/cuda_backend.h"
#include "cuda/cuda_device.h"

namespace skipdit::cuda {

// Shared with make_cuda_backend below (hence not in an anonymous namespace).
const char* const kReason =
    "skipdit was built without CUDA (nvcc was not found at build time); rebuild with nvcc on PATH";

const Availability& availability() {
  static const Availability a = [] {
    Availability r;
    r.reason = kReason;
    return r;
  }();
  return a;
}

std::shared_ptr<Buffer> allocate(size_t, int) { fail(ErrorKind::BackendUnavailable, kReason); }
void copy_to_device(void*, const void*, size_t) { fail(ErrorKind::BackendUnavailable, kReason); }
void copy_to_host(void*, const void*, size_t) { fail(ErrorKind::BackendUnavailable, kReason); }
void axpy(float, const float*, float*, int64_t) { fail(ErrorKind::BackendUnavailable, kReason); }
std::string self_test() { return kReason; }

}  // namespace skipdit::cuda

namespace skipdit {
std::shared_ptr<Backend> make_cuda_backend(Precision) {
  fail(ErrorKind::BackendUnavailable, std::string("CUDA backend unavailable: ") + cuda::kReason);
}
}  // namespace skipdit
