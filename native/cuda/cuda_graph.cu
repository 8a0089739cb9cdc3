#include "cuda/cuda_graph.h"

#include <cstdlib>
#include <cstring>

#include "cuda/cuda_common.cuh"

namespace skipdit::cuda {

namespace {
bool graphs_enabled() {
  const char* v = std::getenv("SKIPDIT_CUDA_GRAPHS");
  return !(v && std::strcmp(v, "0") == 0) && !sync_after_launch();
}
}  // namespace

GraphRegions::~GraphRegions() { clear(); }

void GraphRegions::clear() {
  for (auto& [key, r] : regions_)
    if (r.exec) cudaGraphExecDestroy(r.exec);
  regions_.clear();
}

void GraphRegions::begin(const std::string& key, cudaStream_t stream) {
  if (current_) end(false, stream);  // left open by an error between begin and end
  if (!graphs_enabled()) return;
  if (regions_.size() >= kMaxRegions && !regions_.count(key)) clear();
  current_ = &regions_[key];
  slot_ = 0;
  if (current_->failed) {
    mode_ = Mode::Eager;
  } else if (current_->exec) {
    mode_ = Mode::Replay;
  } else if (current_->eager_runs >= 1) {
    CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    mode_ = Mode::Capture;
  } else {
    mode_ = Mode::Eager;
  }
}

void GraphRegions::end(bool ok, cudaStream_t stream) {
  if (!current_) return;
  Region& r = *current_;
  const Mode mode = mode_;
  const size_t slots = slot_;
  current_ = nullptr;
  mode_ = Mode::Eager;
  if (mode == Mode::Eager) {
    if (ok) r.eager_runs++;
    return;
  }
  if (mode == Mode::Replay) {
    if (!ok) return;
    SKIPDIT_CHECK(slots == r.device.size(), "CUDA graph replay: fewer inputs than recorded");
    CUDA_CHECK(cudaGraphLaunch(r.exec, stream));
    launches_++;
    return;
  }
  cudaGraph_t graph = nullptr;
  cudaError_t err = cudaStreamEndCapture(stream, &graph);
  if (ok && err == cudaSuccess) err = cudaGraphInstantiate(&r.exec, graph, 0);
  if (graph) cudaGraphDestroy(graph);
  if (!ok || err != cudaSuccess) {
    r.failed = true;
    r.exec = nullptr;
    cudaGetLastError();
    if (!ok) return;  // the error on its way out says what went wrong
    throw_cuda_error(err, "CUDA graph capture (SKIPDIT_CUDA_GRAPHS=0 runs without graphs)", __FILE__, __LINE__);
  }
  CUDA_CHECK(cudaGraphLaunch(r.exec, stream));  // the capture ran nothing: this computes the call
  launches_++;
}

GraphRegions::Slot GraphRegions::next_slot(DType dtype, const Shape& shape, const Allocate& allocate) {
  SKIPDIT_CHECK(current_ && mode_ != Mode::Eager, "CUDA graph input slot outside a capture or replay");
  Region& r = *current_;
  if (mode_ == Mode::Capture) {
    void* host = nullptr;
    CUDA_CHECK(cudaMallocHost(&host, std::max<size_t>(1, shape_numel(shape) * dtype_size(dtype))));
    r.host.emplace_back(host);
    r.device.push_back(allocate(dtype, shape));
  }
  SKIPDIT_CHECK(slot_ < r.device.size() && r.device[slot_].dtype() == dtype && r.device[slot_].shape() == shape,
                "CUDA graph replay: the inputs differ from the recorded ones");
  Slot s{r.host[slot_].get(), r.device[slot_]};
  slot_++;
  return s;
}

}  // namespace skipdit::cuda
