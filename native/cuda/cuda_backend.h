// The CUDA backend: every Backend op on device memory of GPU 0, one stream per backend instance, weights
// uploaded once (prepare_linear converts them to the model precision), allocations from a per-backend
// caching pool so repeated forwards at one shape allocate nothing. Plain C++ interface: implemented by
// cuda_backend.cu when nvcc is found, by cuda_unavailable.cpp (throws BackendUnavailable) otherwise.
#pragma once
#include <memory>

#include "backend/backend.h"

namespace skipdit {

// Throws BackendUnavailable (no device, driver too old, build without CUDA) with the reason.
std::shared_ptr<Backend> make_cuda_backend(Precision precision = Precision::F32);

}  // namespace skipdit
