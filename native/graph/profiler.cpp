#include "graph/profiler.h"

namespace skipdit {

void OpProfiler::record(const std::string& op, double seconds, double flops) {
  std::lock_guard<std::mutex> lock(mutex_);
  OpProfile& s = stats_[op];
  s.op = op;
  s.calls++;
  s.seconds += seconds;
  s.flops += flops;
}

void OpProfiler::node_done(const Graph&, const Graph::Node& node, double seconds) {
  record(op_name(node.op), seconds, node.flops);
}

void OpProfiler::graph_replayed(const Graph& graph, double seconds) { record("graph_launch", seconds, graph.flops()); }

std::vector<OpProfile> OpProfiler::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<OpProfile> out;
  std::vector<std::string> order = op_names();
  for (const char* extra : {"graph_launch", "download", "upload_f32"}) order.push_back(extra);
  for (const std::string& name : order) {
    auto it = stats_.find(name);
    if (it != stats_.end()) out.push_back(it->second);
  }
  return out;
}

void OpProfiler::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.clear();
}

}  // namespace skipdit
