#include "graph/graph.h"

#include <algorithm>
#include <cstring>

#include "backend/backend.h"

namespace skipdit {

void op_shape_error(const char* op, const std::string& what) {
  fail(ErrorKind::Internal, std::string("internal check failed: ") + op + ": unexpected " + what);
}

namespace {
template <class T> struct is_op : std::true_type {};
template <> struct is_op<std::monostate> : std::false_type {};
}  // namespace

const char* op_name(const OpParams& op) {
  return std::visit(
      [](const auto& o) -> const char* {
        if constexpr (is_op<std::decay_t<decltype(o)>>::value) return std::decay_t<decltype(o)>::kName;
        else return "none";
      },
      op);
}

bool make_op(const std::string& name, OpParams& op) {
#define SKIPDIT_MAKE_OP(Op)    \
  if (name == ops::Op::kName) { \
    op = ops::Op{};            \
    return true;               \
  }
  SKIPDIT_OP_LIST(SKIPDIT_MAKE_OP)
#undef SKIPDIT_MAKE_OP
  return false;
}

std::vector<std::string> op_names() {
  std::vector<std::string> names;
#define SKIPDIT_OP_NAME(Op) names.push_back(ops::Op::kName);
  SKIPDIT_OP_LIST(SKIPDIT_OP_NAME)
#undef SKIPDIT_OP_NAME
  return names;
}

Graph::Graph(const Backend* backend) : backend_(backend) {
  if (backend) {
    activation_ = backend->activation_dtype();
    operand_ = backend->operand_dtype();
  }
}

ValueId Graph::constant(const Tensor& t, Shape logical_shape, DType dtype) {
  Value v;
  v.kind = Kind::Constant;
  v.desc = {std::move(logical_shape), dtype};
  v.constant = t;
  values_.push_back(std::move(v));
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::external(int32_t slot, Shape shape, DType dtype) {
  SKIPDIT_CHECK(slot >= 0, "external slot " + std::to_string(slot));
  Value v;
  v.kind = Kind::External;
  v.desc = {std::move(shape), dtype};
  v.slot = slot;
  externals_ = std::max(externals_, slot + 1);
  values_.push_back(std::move(v));
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::empty(Shape shape, DType dtype) {
  Value v;
  v.kind = Kind::Internal;
  v.desc = {std::move(shape), dtype};
  values_.push_back(std::move(v));
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::root(ValueId v, size_t* offset) const {
  size_t off = 0;
  while (values_.at(v).kind == Kind::View) {
    off += values_[v].offset;
    v = values_[v].base;
  }
  if (offset) *offset = off;
  return v;
}

ValueId Graph::make_view(ValueId v, Shape shape, size_t offset, DType dtype) {
  size_t base_offset = 0;
  const ValueId r = root(v, &base_offset);
  Value view;
  view.kind = Kind::View;
  view.desc = {std::move(shape), dtype};
  view.base = r;
  view.offset = base_offset + offset;
  view.version = values_[r].root_version;
  values_.push_back(std::move(view));
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::reshape(ValueId v, Shape shape) {
  check_readable(v, "reshape", "x");
  const TensorDesc& d = values_[v].desc;
  SKIPDIT_CHECK(shape_numel(shape) == d.numel(), "reshape " + d.describe() + " to " + shape_str(shape));
  return make_view(v, std::move(shape), 0, d.dtype);
}

ValueId Graph::rows(ValueId v, int64_t begin, int64_t end) {
  check_readable(v, "rows", "x");
  const TensorDesc& d = values_[v].desc;
  SKIPDIT_CHECK(d.ndim() >= 1 && 0 <= begin && begin <= end && end <= d.dim(0), "rows " + std::to_string(begin) + ".." +
                                                                                     std::to_string(end) + " of " + d.describe());
  Shape shape = d.shape;
  shape[0] = end - begin;
  const size_t row_bytes = static_cast<size_t>(d.numel() / std::max<int64_t>(1, d.dim(0))) * dtype_size(d.dtype);
  return make_view(v, std::move(shape), row_bytes * begin, d.dtype);
}

void Graph::check_readable(ValueId v, const char* op, const char* input) const {
  SKIPDIT_CHECK(v >= 0 && static_cast<size_t>(v) < values_.size(), std::string(op) + ": unknown value for " + input);
  const ValueId r = root(v);
  const int32_t current = values_[r].root_version;
  const int32_t mine = values_[v].kind == Kind::View ? values_[v].version : 0;
  SKIPDIT_CHECK(mine == current, std::string(op) + ": input " + input + " " + values_[v].desc.describe() +
                                     " was overwritten by an in-place node after it was made (copy it first)");
}

void Graph::tap(const std::string& name) {
  SKIPDIT_CHECK(!nodes_.empty(), "tap '" + name + "' before any node");
  nodes_.back().taps.push_back(name);
}

void Graph::begin_block(const std::string& name) {
  if (name.empty()) {
    current_block_ = -1;
    return;
  }
  blocks_.push_back(name);
  current_block_ = static_cast<int32_t>(blocks_.size() - 1);
}

void Graph::output(ValueId v) {
  check_readable(v, "output", "value");
  outputs_.push_back(v);
}

ValueId Graph::add_op(const OpParams& op, const std::vector<ValueId>& inputs, DType out_dtype, ValueId into) {
  return std::visit(
      [&](const auto& o) -> ValueId {
        using Op = std::decay_t<decltype(o)>;
        if constexpr (!is_op<Op>::value) {
          fail(ErrorKind::Internal, "add_op of an empty op");
        } else {
          return add_node(OpParams(o), Op::kInputs.data(), static_cast<int>(Op::kInputs.size()), Op::kInPlace,
                          inputs.data(), inputs.size(), out_dtype, into, [&](const OpInputs& in) { return o.infer(in); },
                          [&](const OpInputs& in, const Shape& out) { return o.flops(in, out); });
        }
      },
      op);
}

Tensor Graph::tensor(ValueId v, const GraphBindings& b) const {
  size_t offset = 0;
  const Value& r = values_.at(root(v, &offset));
  const TensorDesc& d = values_[v].desc;
  const Tensor* base = nullptr;
  if (r.kind == Kind::Internal) {
    base = &b.arena;
    offset += r.arena_offset;
  } else if (r.kind == Kind::External) {
    base = &b.externals.at(r.slot);
  } else {
    base = &r.constant;
  }
  const size_t start = static_cast<char*>(base->raw()) - static_cast<char*>(base->buffer()->data()) + offset;
  return Tensor(base->buffer(), start, d.dtype, d.shape);
}

double Graph::flops() const {
  double total = 0;
  for (const Node& n : nodes_) total += n.flops;
  return total;
}

void Graph::finalize() {
  SKIPDIT_CHECK(!finalized_, "graph finalized twice");
  if (backend_)
    for (Node& n : nodes_) n.scratch_bytes = backend_->scratch_bytes(*this, n);
  plan();
  compute_hash();
  finalized_ = true;
}

// Greedy offset assignment by first use: each buffer goes to the lowest gap between the buffers still live when it
// is first written. A buffer is live from its first to its last node, both included, so a node's output never
// shares bytes with its inputs (unless it is in place, a view).
void Graph::plan() {
  // Offsets and sizes in whole 256-byte units (vector loads, CUDA's 128-byte transactions), whole pages for
  // buffers of 64 KiB or more (as separate allocations would be: GEMM rows then never straddle a page needlessly).
  auto aligned = [](size_t b) {
    const size_t unit = b >= (size_t(64) << 10) ? 4096 : 256;
    return (b + unit - 1) / unit * unit;
  };
  const int32_t end = static_cast<int32_t>(nodes_.size());
  auto touch = [&](ValueId v, int32_t i) {
    Value& r = values_[root(v)];
    if (r.kind != Kind::Internal) return;
    r.first = r.first < 0 ? i : std::min(r.first, i);
    r.last = std::max(r.last, i);
  };
  for (int32_t i = 0; i < end; ++i) {
    for (ValueId v : nodes_[i].in)
      if (v != kNoValue) touch(v, i);
    touch(nodes_[i].out, i);
  }
  for (ValueId v : outputs_) {
    Value& r = values_[root(v)];
    if (r.kind == Kind::Internal) r.last = end;
  }

  struct Item {
    int32_t first, last;
    size_t bytes;
    size_t* offset;
  };
  std::vector<Item> items;
  for (Value& v : values_)
    if (v.kind == Kind::Internal && v.first >= 0) items.push_back({v.first, v.last, aligned(v.bytes()), &v.arena_offset});
  for (int32_t i = 0; i < end; ++i)
    if (nodes_[i].scratch_bytes > 0) items.push_back({i, i, aligned(nodes_[i].scratch_bytes), &nodes_[i].scratch_offset});
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.first != b.first ? a.first < b.first : a.bytes > b.bytes;
  });

  struct Live {
    size_t begin, end;
    int32_t last;
  };
  std::vector<Live> live;  // sorted by begin
  arena_bytes_ = 0;
  for (const Item& item : items) {
    live.erase(std::remove_if(live.begin(), live.end(), [&](const Live& l) { return l.last < item.first; }), live.end());
    const size_t unit = item.bytes >= (size_t(64) << 10) ? 4096 : 256;
    auto align_up = [&](size_t o) { return (o + unit - 1) / unit * unit; };
    size_t at = 0;
    auto pos = live.begin();
    for (; pos != live.end(); ++pos) {
      if (at + item.bytes <= pos->begin) break;
      at = align_up(std::max(at, pos->end));
    }
    live.insert(pos, {at, at + item.bytes, item.last});
    *item.offset = at;
    arena_bytes_ = std::max(arena_bytes_, at + item.bytes);
  }
}

namespace {
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void bytes(const void* p, size_t n) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
  }
  template <class T> void operator()(const T& v) { bytes(&v, sizeof v); }
};
}  // namespace

void Graph::compute_hash() {
  Fnv f;
  for (const Value& v : values_) {
    f(v.kind);
    f(v.desc.dtype);
    for (int64_t d : v.desc.shape) f(d);
    f(v.desc.shape.size());
    f(v.slot);
    f(v.base);
    f(v.offset);
    f(v.arena_offset);
    const void* data = v.constant.defined() ? v.constant.raw() : nullptr;
    f(data);
  }
  for (const Node& n : nodes_) {
    f(n.op.index());
    std::visit(
        [&](const auto& o) {
          if constexpr (is_op<std::decay_t<decltype(o)>>::value) {
            auto copy = o;
            copy.fields([&](const char*, const auto& field) { f(field); });
          }
        },
        n.op);
    for (ValueId v : n.in) f(v);
    f(n.out);
    f(n.branch);
    f(n.scratch_bytes);
    f(n.scratch_offset);
  }
  f(arena_bytes_);
  hash_ = f.h;
}

}  // namespace skipdit
