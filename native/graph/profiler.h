// OpProfiler: per-op call counts, wall time and FLOPs (the op's flops() rule, multiply-add = 2) of the graphs a
// model runs, collected as a ComputeHooks observer (`loadModel(path, { profile: true })`, NativeModel.profile()).
// A replayed CUDA graph counts as one "graph_launch" (its kernels are not timed one by one); on CUDA a node's
// time is its launch, the kernels run asynchronously.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace skipdit {

struct OpProfile {
  std::string op;
  int64_t calls = 0;
  double seconds = 0;
  double flops = 0;
};

class OpProfiler final : public GraphObserver {
 public:
  void node_done(const Graph& graph, const Graph::Node& node, double seconds) override;
  void graph_replayed(const Graph& graph, double seconds) override;
  // Work outside graphs: "download" (results and latents to the host), "upload_f32".
  void record(const std::string& op, double seconds, double flops = 0);
  // The ops run since construction or the last reset, in op-list order (graph_launch, then transfers, last).
  std::vector<OpProfile> snapshot() const;
  void reset();

 private:
  mutable std::mutex mutex_;
  std::map<std::string, OpProfile> stats_;
};

}  // namespace skipdit
