// The op list: every op a graph can hold, one X(...) entry each, with its declaration (graph/ops/). Each op has a
// CPU kernel (cpu/cpu_kernels.h) and a CUDA kernel (cuda/cuda_kernels.cuh), declared from this list: an op
// without both does not link. Adding an op: its declaration, its entry here, its two kernels, its test case.
#pragma once
#include <variant>

#include "graph/ops/attention.h"
#include "graph/ops/blend.h"
#include "graph/ops/conv.h"
#include "graph/ops/elementwise.h"
#include "graph/ops/embed.h"
#include "graph/ops/gated_gelu.h"
#include "graph/ops/gelu_erf.h"
#include "graph/ops/linear.h"
#include "graph/ops/norms.h"
#include "graph/ops/relative_position_bias.h"
#include "graph/ops/rms_norm.h"
#include "graph/ops/rope_2d.h"
#include "graph/ops/rows.h"
#include "graph/ops/sampling.h"
#include "graph/ops/sdpa.h"
#include "graph/ops/temporal_conv.h"

#define SKIPDIT_OP_LIST(X) \
  X(Linear)                \
  X(LinearGateResidual)    \
  X(LayerNorm)             \
  X(LayerNormConcat)       \
  X(LayerNormModulate)     \
  X(GroupNorm)             \
  X(Silu)                  \
  X(Add)                   \
  X(AddBroadcastRows)      \
  X(Copy)                  \
  X(SwapTokenAxes)         \
  X(Attention)             \
  X(PatchEmbed)            \
  X(TimestepFrequencies)   \
  X(Embedding)             \
  X(Unpatchify)            \
  X(Conv2d)                \
  X(UpsampleNearest2x)     \
  X(CfgGuidance)           \
  X(SamplerStep)           \
  X(Sdpa)                  \
  X(RmsNorm)               \
  X(Rope2d)                \
  X(GatedGelu)             \
  X(GeluErf)               \
  X(RelativePositionBias)  \
  X(TemporalConv)          \
  X(Blend)                 \
  X(SliceColumns)          \
  X(AddGroupRows)          \
  X(SelectRows)            \
  X(MeanTokens)            \
  X(ConcatColumns)

namespace skipdit {

#define SKIPDIT_OP_TYPE(Op) ops::Op,
// One node's op and parameters. (The trailing monostate only ends the list.)
using OpParams = std::variant<SKIPDIT_OP_LIST(SKIPDIT_OP_TYPE) std::monostate>;
#undef SKIPDIT_OP_TYPE

const char* op_name(const OpParams& op);
// The op named `name` with default parameters; false when no op has that name.
bool make_op(const std::string& name, OpParams& op);
// The names of every op, in list order.
std::vector<std::string> op_names();

}  // namespace skipdit
