#include "backend/backend.h"

#include <chrono>

#include "core/abort.h"
#include "core/error.h"

namespace skipdit {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::F32: return "float32";
    case Precision::BF16: return "bfloat16";
    case Precision::F16: return "float16";
  }
  return "?";
}

Precision parse_precision(const std::string& name) {
  if (name == "float32") return Precision::F32;
  if (name == "bfloat16") return Precision::BF16;
  if (name == "float16") return Precision::F16;
  fail(ErrorKind::InvalidArgument, "Expected 'float32', 'bfloat16' or 'float16' for dtype but received '" + name + "'");
}

std::vector<Tensor> Backend::bind_values(const Graph& graph, const GraphBindings& b,
                                         const std::vector<Tensor>& externals) const {
  SKIPDIT_CHECK(graph.finalized(), "compute of a graph that is not finalized");
  SKIPDIT_CHECK(graph.arena_bytes() == 0 || (b.arena.defined() && b.arena.nbytes() >= graph.arena_bytes()),
                "arena of " + std::to_string(b.arena.defined() ? b.arena.nbytes() : 0) + " bytes for a graph needing " +
                    std::to_string(graph.arena_bytes()));
  SKIPDIT_CHECK(static_cast<int32_t>(externals.size()) >= graph.externals(), "missing external bindings");
  const std::vector<Graph::Value>& values = graph.values();
  std::vector<Tensor> out(values.size());
  auto at = [](const Tensor& base, size_t offset, const TensorDesc& d) {
    const size_t start = static_cast<char*>(base.raw()) - static_cast<char*>(base.buffer()->data()) + offset;
    return Tensor(base.buffer(), start, d.dtype, d.shape);
  };
  for (size_t i = 0; i < values.size(); ++i) {
    const Graph::Value& v = values[i];
    switch (v.kind) {
      case Graph::Kind::Constant: out[i] = v.constant; break;
      case Graph::Kind::External: {
        const Tensor& t = externals[v.slot];
        SKIPDIT_CHECK(t.defined() && t.dtype() == v.desc.dtype && t.numel() == v.desc.numel(),
                      "external " + std::to_string(v.slot) + ": " + (t.defined() ? t.describe() : "none") + " bound for " +
                          v.desc.describe());
        out[i] = t.shape() == v.desc.shape ? t : t.reshape(v.desc.shape);
        break;
      }
      case Graph::Kind::Internal:
        if (v.first >= 0) out[i] = at(b.arena, v.arena_offset, v.desc);
        break;
      case Graph::Kind::View: {
        const Tensor& base = out[v.base];
        if (base.defined()) {
          SKIPDIT_CHECK(v.offset + v.bytes() <= base.nbytes(), "view past its base: " + v.desc.describe());
          out[i] = at(base, v.offset, v.desc);
        }
        break;
      }
    }
  }
  return out;
}

void Backend::run_nodes(const Graph& graph, const std::vector<Tensor>& values, const Tensor& arena,
                        const ComputeHooks& hooks) {
  KernelArgs args;
  int8_t chosen = 0;  // the alternative that runs, once decided
  for (const Graph::Node& node : graph.nodes()) {
    check_abort(hooks.abort);
    if (node.branch != 0) {
      if (chosen == 0) chosen = !hooks.decide || hooks.decide() ? 1 : 2;
      if (node.branch != chosen) continue;
    }
    for (int i = 0; i < kMaxOpInputs; ++i) args.in[i] = node.in[i] == kNoValue ? Tensor() : values[node.in[i]];
    args.out = values[node.out];
    args.scratch = node.scratch_bytes > 0 ? Tensor(arena.buffer(), static_cast<char*>(arena.raw()) -
                                                                        static_cast<char*>(arena.buffer()->data()) +
                                                                        node.scratch_offset,
                                                   DType::F32, {int64_t(node.scratch_bytes / 4)})
                                          : Tensor();
    if (hooks.observer) {
      const auto t0 = std::chrono::steady_clock::now();
      run_node(node, args);
      hooks.observer->node_done(graph, node,
                                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } else {
      run_node(node, args);
    }
    if (hooks.tap)
      for (const std::string& name : node.taps) hooks.tap(name, args.out);
  }
}

void Backend::compute(const Graph& graph, const GraphBindings& bindings, const ComputeHooks& hooks) {
  std::vector<Tensor> values = bind_values(graph, bindings, bindings.externals);
  run_nodes(graph, values, bindings.arena, hooks);
}

}  // namespace skipdit
