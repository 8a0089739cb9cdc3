// A compute device: its memory (tensors, uploads, downloads, weight layouts) and the runner of op graphs
// (graph/graph.h). One implementation per device: CpuBackend (native/cpu) and CudaBackend (native/cuda); a
// backend's kernels are its run_node(), one per op of graph/op_list.h.
#pragma once
#include <memory>
#include <string>

#include <atomic>
#include <functional>
#include <vector>

#include "core/tensor.h"
#include "graph/graph.h"

namespace skipdit {

// The precision a model's linear weights are stored and multiplied in. Activations, statistics and
// accumulation stay float32 on CPU. CPU: F32, or BF16 weights (dot products in bf16 with fp32 accumulation,
// AVX-512 BF16 where the CPU has it). CUDA: F32, BF16 or F16 weights and activations, fp32 accumulation.
enum class Precision { F32, BF16, F16 };
const char* precision_name(Precision p);
// "float32" | "bfloat16" | "float16" -> Precision; InvalidArgument otherwise.
Precision parse_precision(const std::string& name);

// How a run of a graph may be observed: profiling (OpProfiler).
class GraphObserver {
 public:
  virtual ~GraphObserver() = default;
  // A node ran (seconds: its wall time; on CUDA the launch, the kernels run asynchronously).
  virtual void node_done(const Graph& graph, const Graph::Node& node, double seconds) = 0;
  // A recorded graph was replayed as a whole (CUDA graphs): no per-node calls.
  virtual void graph_replayed(const Graph& graph, double seconds) = 0;
};

struct ComputeHooks {
  // Checked before every node: a set flag stops the run with ErrorKind::Aborted (core/abort.h).
  const std::atomic<bool>* abort = nullptr;
  // The backend may record the run and replay it for later runs of a graph with the same hash() and the same
  // bound memory (CUDA graphs). Off with taps, and for graphs whose parameters change at every run.
  bool replayable = false;
  // Called after each node whose output has a tap name (Graph::tap), with that output; runs the graph eagerly.
  std::function<void(const std::string& name, const Tensor& value)> tap;
  GraphObserver* observer = nullptr;
  // A graph with alternatives (Node::branch): called once, when the first of their nodes is reached, after every
  // node before it ran; true runs alternative 1, false alternative 2. Absent: 1.
  std::function<bool()> decide;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Device device() const = 0;

  // ---- memory
  // The element type of a model's token activations between ops (Graph::activation_dtype): F32 unless the
  // backend stores them in the model precision (CUDA with bfloat16 / float16 weights). Conditioning vectors,
  // adaLN modulation, inputs and outputs stay F32 on every backend.
  virtual DType activation_dtype() const { return DType::F32; }
  // The element type of tensors whose only readers are linear layers (Graph::operand_dtype: the adaLN pre-norm
  // outputs, the MLP hidden layer, the skip-fusion concat). The activation dtype unless a backend rounds GEMM
  // inputs anyway and may as well store them rounded: CPU with bfloat16 weights on AVX-512 BF16.
  virtual DType operand_dtype() const { return activation_dtype(); }
  virtual Tensor empty(DType dtype, const Shape& shape) = 0;
  // A backend-owned float32 copy of a host tensor (F32, F16 or BF16 source; converted once).
  virtual Tensor upload_f32(const Tensor& host) = 0;
  virtual void download(const Tensor& src, float* dst) = 0;
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  // dst = src in dst's element type (same numel): float32 <-> the activation type (bf16 / fp16), rounding to
  // nearest even when narrowing. For tests that run an op at the activation type.
  virtual void convert(const Tensor& src, Tensor& dst) = 0;
  // Waits until every op issued so far has finished (CUDA: the stream; reports a device fault). Default: nothing.
  virtual void synchronize() {}

  // A linear layer's weight (N, K) in the backend's preferred layout (CPU: packed GEMM panels, a flat
  // tensor), prepared once at load; graphs see its logical shape (N, K). Undefined stays undefined.
  virtual Tensor prepare_linear(const Tensor& w) { return w; }
  // The same for a weight kept float32 whatever the model's precision (T5's `wo` under float16, as transformers'
  // _keep_in_fp32_modules): the GEMM then runs in float32 on that layer. Default: the plain (N, K) tensor.
  virtual Tensor prepare_linear_f32(const Tensor& w) { return w; }

  // ---- graphs (graph/graph.h)
  // Whether this backend has a kernel for the op with these parameters.
  virtual bool supports(const OpParams& op) const { return true; }
  // Scratch bytes a node needs besides its output (planned in the arena with it); 0 by default.
  virtual size_t scratch_bytes(const Graph& graph, const Graph::Node& node) const { return 0; }
  // Runs every node of a finalized graph in order. Values bound to host tensors (externals: timesteps, labels,
  // host latents) are made available to the kernels (uploaded where the backend's memory is elsewhere).
  virtual void compute(const Graph& graph, const GraphBindings& bindings, const ComputeHooks& hooks = {});
  // Recorded graphs launched so far (0 where nothing is recorded): lets a test see that replay happened.
  virtual int64_t graph_launches() const { return 0; }

 protected:
  // One node, on tensors bound by compute().
  virtual void run_node(const Graph::Node& node, const KernelArgs& args) = 0;
  // A tensor for every value of the graph (externals as given: the caller replaces host ones if it must).
  std::vector<Tensor> bind_values(const Graph& graph, const GraphBindings& bindings,
                                  const std::vector<Tensor>& externals) const;
  // The nodes in order on bound values, with the hooks (abort, taps, observer).
  void run_nodes(const Graph& graph, const std::vector<Tensor>& values, const Tensor& arena, const ComputeHooks& hooks);
};

// The CPU backend (always available). BF16 weights need no special CPU: without AVX-512 BF16 they are
// widened to fp32 inside the GEMM.
std::shared_ptr<Backend> make_cpu_backend(Precision precision = Precision::F32);

}  // namespace skipdit
