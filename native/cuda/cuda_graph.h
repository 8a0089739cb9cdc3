// CUDA graphs for replayable op graphs (ComputeHooks::replayable; docs/cuda.md).
//
// Per region key (CudaBackend: the op graph's structural hash and every device address bound to it): the first
// run is eager (it warms the caching pool), the second is captured on the backend's stream
// (cudaStreamBeginCapture, relaxed mode), instantiated and launched, every later one only replays the graph
// (cudaGraphLaunch). Host inputs are staged: while capturing and replaying, each host external of the graph is
// copied into a fixed pinned buffer per input slot (n-th host external = slot n), and the captured graph copies
// it to a fixed device tensor. A replay therefore needs no allocation and no host synchronisation; the forward's
// download after the region is the one sync, so the pinned buffers are never rewritten while a graph reads
// them. A capture that fails leaves its key eager for good. SKIPDIT_CUDA_GRAPHS=0 (read at every region)
// or SKIPDIT_CUDA_SYNC=1 runs everything eagerly.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace skipdit::cuda {

class GraphRegions {
 public:
  enum class Mode { Eager, Capture, Replay };
  struct Slot {
    void* host;     // pinned, nbytes of the input
    Tensor device;  // fixed for the region
  };
  using Allocate = std::function<Tensor(DType, const Shape&)>;  // device memory, not zeroed (no stream work)

  GraphRegions() = default;
  GraphRegions(const GraphRegions&) = delete;
  GraphRegions& operator=(const GraphRegions&) = delete;
  ~GraphRegions();

  void begin(const std::string& key, cudaStream_t stream);
  void end(bool ok, cudaStream_t stream);
  Mode mode() const { return mode_; }
  bool replaying() const { return mode_ == Mode::Replay; }
  // Capturing or replaying: host inputs must go through next_slot().
  bool staging() const { return mode_ != Mode::Eager; }
  // The current region's next input slot: made while capturing; while replaying, the recorded one, which must
  // have this dtype and shape.
  Slot next_slot(DType dtype, const Shape& shape, const Allocate& allocate);
  // Graph launches so far (captures included): lets a test see that graphs really ran.
  int64_t launches() const { return launches_; }

 private:
  struct PinnedFree {
    void operator()(void* p) const { cudaFreeHost(p); }
  };
  struct Region {
    int eager_runs = 0;
    bool failed = false;  // a capture failed: stays eager
    cudaGraphExec_t exec = nullptr;
    std::vector<std::unique_ptr<void, PinnedFree>> host;
    std::vector<Tensor> device;
  };
  static constexpr size_t kMaxRegions = 64;  // keys name cache objects too: forget all past this many
  void clear();

  std::map<std::string, Region> regions_;
  Region* current_ = nullptr;
  size_t slot_ = 0;
  Mode mode_ = Mode::Eager;
  int64_t launches_ = 0;
};

}  // namespace skipdit::cuda
