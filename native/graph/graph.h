// A forward as data: values (tensors) and nodes (op, parameters, inputs, output), recorded once and run many
// times (Backend::compute).
//
// Recording checks every node's shapes (its op's infer()) when it is added, so running trusts them. finalize()
// then plans memory: every intermediate value gets an offset in one arena, reusing the bytes of values whose
// last reader has run (liveness), and computes a structural hash of the whole graph (ops, parameters, shapes,
// dtypes, the buffer plan and the addresses of the weights). A backend that records and replays work (CUDA
// graphs) keys it by that hash and the addresses bound at run time, so no caller lists pointers.
//
// Values:
//   constant   a tensor that lives with the model (weights), bound at recording
//   external   a tensor given at every run in GraphBindings::externals[slot]: host inputs (t, labels, host x) or
//              backend tensors owned elsewhere (resident latents, a Skip-Cache feature)
//   internal   produced by a node, placed in the arena by the plan
//   view       another shape over (part of) a value's memory: reshape, rows, or the output of an in-place op
// An in-place op (kInPlace) or a node written `into` a value makes the old value stale: reading it afterwards
// is a recording error, so a forgotten copy cannot silently read a changed buffer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "graph/op_list.h"

namespace skipdit {

class Backend;
using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;

class Graph {
 public:
  enum class Kind : uint8_t { Constant, External, Internal, View };
  struct Value {
    Kind kind = Kind::Internal;
    TensorDesc desc;
    Tensor constant;            // Constant (undefined in a graph recorded only to be described)
    int32_t slot = -1;          // External
    ValueId base = kNoValue;    // View: the internal/external/constant value whose memory this is
    size_t offset = 0;          // View: bytes from the start of base
    // the memory's version when this value was made: a later in-place write bumps the root's version
    int32_t version = 0;
    int32_t root_version = 0;   // roots: the current version
    // roots of kind Internal, set by finalize(): the nodes that first / last touch the memory, its arena offset
    int32_t first = -1, last = -1;
    size_t arena_offset = 0;
    size_t bytes() const { return static_cast<size_t>(desc.numel()) * dtype_size(desc.dtype); }
  };
  struct Node {
    OpParams op;
    std::array<ValueId, kMaxOpInputs> in;
    ValueId out = kNoValue;
    size_t scratch_bytes = 0;   // Backend::scratch_bytes, set by finalize()
    size_t scratch_offset = 0;  // in the arena
    int32_t block = -1;         // index into blocks(): the named block that added it
    std::vector<std::string> taps;  // golden-vector names of the output, see ComputeHooks::tap
    double flops = 0;
    // 0: always runs. 1 / 2: one of two alternatives, chosen once per run by ComputeHooks::decide (true: 1) when
    // the first of their nodes is reached; the other's nodes are skipped. Both must write every value read after them.
    int8_t branch = 0;
  };

  // `backend` gives the dtypes of token activations and GEMM operands and the scratch sizes; null records a graph
  // that is only described (float32, no scratch, no memory).
  explicit Graph(const Backend* backend);

  DType activation_dtype() const { return activation_; }
  DType operand_dtype() const { return operand_; }

  ValueId constant(const Tensor& t, Shape logical_shape, DType dtype = DType::F32);
  ValueId external(int32_t slot, Shape shape, DType dtype);
  // Memory for nodes to write `into` (e.g. two copies into the halves of one tensor).
  ValueId empty(Shape shape, DType dtype);
  ValueId reshape(ValueId v, Shape shape);
  ValueId rows(ValueId v, int64_t begin, int64_t end);  // rows [begin, end) of the leading dimension

  // Adds a node; returns its output: a new value of out_dtype (ignored for in-place ops, which keep their
  // input's), or with into != kNoValue the node writes that value's memory (same size and dtype: an empty() or
  // an external, or rows of one) and returns a view of it.
  // Absent optional inputs are kNoValue.
  template <class Op>
  ValueId add(const Op& op, std::initializer_list<ValueId> inputs, DType out_dtype = DType::F32,
              ValueId into = kNoValue) {
    static_assert(inputs_of<Op>() <= kMaxOpInputs, "too many inputs");
    return add_node(OpParams(op), Op::kInputs.data(), static_cast<int>(Op::kInputs.size()), Op::kInPlace,
                    inputs.begin(), inputs.size(), out_dtype, into, [&](const OpInputs& in) { return op.infer(in); },
                    [&](const OpInputs& in, const Shape& out) { return op.flops(in, out); });
  }
  // The same for an op chosen at run time (test hooks): inputs in the op's kInputs order.
  ValueId add_op(const OpParams& op, const std::vector<ValueId>& inputs, DType out_dtype = DType::F32,
                 ValueId into = kNoValue);

  // Names the last node's output for taps (golden vectors).
  void tap(const std::string& name);
  // Nodes added from now on belong to block `name` (FLOPs and profiles per block); "" ends it.
  void begin_block(const std::string& name);
  // Nodes added from now on belong to alternative `branch` (1 or 2; 0 ends it): see Node::branch.
  void begin_branch(int8_t branch) { current_branch_ = branch; }
  // The value stays readable after the run (its memory is not reused).
  void output(ValueId v);

  // Plans memory and hashes the graph; no node may be added afterwards.
  void finalize();
  bool finalized() const { return finalized_; }

  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<std::string>& blocks() const { return blocks_; }
  const TensorDesc& desc(ValueId v) const { return values_.at(v).desc; }
  size_t arena_bytes() const { return arena_bytes_; }
  uint64_t hash() const { return hash_; }
  int32_t externals() const { return externals_; }
  double flops() const;
  // The tensor of value v in a run's bindings (an output, read after the run).
  Tensor tensor(ValueId v, const struct GraphBindings& bindings) const;
  // The value whose memory v is (itself unless a view), and v's byte offset in it.
  ValueId root(ValueId v, size_t* offset = nullptr) const;

 private:
  template <class Op> static constexpr size_t inputs_of() { return Op::kInputs.size(); }
  template <class Infer, class Flops>
  ValueId add_node(OpParams op, const char* const* names, int n_names, int in_place, const ValueId* inputs,
                   size_t n_inputs, DType out_dtype, ValueId into, Infer&& infer, Flops&& flops);
  ValueId make_view(ValueId v, Shape shape, size_t offset, DType dtype);
  void check_readable(ValueId v, const char* op, const char* input) const;
  void plan();
  void compute_hash();

  const Backend* backend_;
  DType activation_ = DType::F32, operand_ = DType::F32;
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<std::string> blocks_;
  int32_t current_block_ = -1;
  int8_t current_branch_ = 0;
  int32_t externals_ = 0;
  std::vector<ValueId> outputs_;
  bool finalized_ = false;
  size_t arena_bytes_ = 0;
  uint64_t hash_ = 0;
};

template <class Infer, class Flops>
ValueId Graph::add_node(OpParams op, const char* const* names, int n_names, int in_place, const ValueId* inputs,
                        size_t n_inputs, DType out_dtype, ValueId into, Infer&& infer, Flops&& flops) {
  const char* name = op_name(op);
  SKIPDIT_CHECK(!finalized_, std::string("node ") + name + " added to a finalized graph");
  SKIPDIT_CHECK(static_cast<int>(n_inputs) == n_names, std::string(name) + ": " + std::to_string(n_inputs) +
                                                           " inputs for " + std::to_string(n_names));
  Node node;
  node.op = std::move(op);
  node.in.fill(kNoValue);
  OpInputs descs;
  int i = 0;
  for (const ValueId* p = inputs; p != inputs + n_inputs; ++p) {
    const ValueId v = *p;
    const bool optional = names[i][std::char_traits<char>::length(names[i]) - 1] == '?';
    SKIPDIT_CHECK(v != kNoValue || optional, std::string(name) + ": input " + names[i] + " missing");
    if (v != kNoValue) {
      check_readable(v, name, names[i]);
      descs.descs[i] = &values_[v].desc;
    }
    node.in[i++] = v;
  }
  const Shape shape = infer(descs);
  node.flops = flops(descs, shape);
  node.block = current_block_;
  node.branch = current_branch_;
  ValueId target = in_place >= 0 ? node.in[in_place] : into;
  if (target != kNoValue) {
    const TensorDesc& t = values_[target].desc;
    SKIPDIT_CHECK(t.numel() == shape_numel(shape) && (in_place >= 0 || t.dtype == out_dtype),
                  std::string(name) + ": output " + shape_str(shape) + " into " + t.describe());
    const ValueId r = root(target);
    SKIPDIT_CHECK(values_[r].kind != Kind::Constant, std::string(name) + ": writing a constant");
    const DType dtype = t.dtype;
    // in place: the output is a new version of the input's memory, whose older values are stale from now on
    // (writes `into` fill memory nobody has read yet: they change no version)
    if (in_place >= 0) values_[r].root_version++;
    node.out = make_view(target, shape, 0, dtype);
  } else {
    Value out;
    out.kind = Kind::Internal;
    out.desc = {shape, out_dtype};
    values_.push_back(std::move(out));
    node.out = static_cast<ValueId>(values_.size() - 1);
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().out;
}

// What a run needs besides the graph: the arena (arena_bytes() or more, any dtype, the backend's memory) and
// one tensor per external slot.
struct GraphBindings {
  Tensor arena;
  std::vector<Tensor> externals;
};

}  // namespace skipdit
