// What every op declaration (graph/ops/<name>.h) is made of, and what a kernel receives.
//
// An op is a struct in namespace skipdit::ops holding its parameters, with:
//   kName                       the op's name (profiles, test cases, errors)
//   kInputs                     its input names in order; a trailing '?' marks an optional input
//   kInPlace (OpBase: -1)       the input whose memory the output takes over (h += ...), or -1
//   fields(f)                   calls f(name, field) for every parameter: hashing, test binding
//   infer(in) -> Shape          checks the input shapes and dtypes (a failure is a bug of the graph builder:
//                               user input is validated before) and gives the output shape
//   flops(in, out) (OpBase: 0)  multiply-add = 2
// The graph calls infer() once, when the node is added; kernels trust what it checked.
#pragma once
#include <array>
#include <string>
#include <type_traits>

#include "core/tensor.h"

namespace skipdit {

inline constexpr int kMaxOpInputs = 6;

// A tensor as the graph sees it before any memory exists.
struct TensorDesc {
  Shape shape;
  DType dtype = DType::F32;
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t numel() const { return shape_numel(shape); }
  std::string describe() const { return std::string(dtype_name(dtype)) + shape_str(shape); }
};

// A node's inputs for its op's rules: absent optional inputs are null.
struct OpInputs {
  std::array<const TensorDesc*, kMaxOpInputs> descs{};
  bool has(int i) const { return descs[i] != nullptr; }
  const TensorDesc& operator[](int i) const { return *descs[i]; }
};

// The tensors of one node at run time: in[i] undefined for an absent optional input; out is the memory of
// in[kInPlace] for in-place ops; scratch is the backend's per-node scratch (Backend::scratch_bytes) or undefined.
struct KernelArgs {
  std::array<Tensor, kMaxOpInputs> in;
  Tensor out;
  Tensor scratch;
};

struct OpBase {
  static constexpr int kInPlace = -1;
  double flops(const OpInputs&, const Shape&) const { return 0; }
};

// A failed shape rule: Internal error naming the op and the tensor.
[[noreturn]] void op_shape_error(const char* op, const std::string& what);
#define SKIPDIT_OP_EXPECT(cond, what) \
  do {                                \
    if (!(cond)) op_shape_error(kName, what); \
  } while (0)

enum class Activation { None, GeluTanh };

}  // namespace skipdit
