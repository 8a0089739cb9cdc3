// The SVD VAE decoder's temporal convolution (Conv3d (kt, 1, 1) over each video's frames), lowered to the packed
// GEMM like conv2d.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// Scratch of one temporal_conv node: the packed (Cout, Cin*kt) weight, a column tile and its output tile.
int64_t temporal_conv_scratch_floats(int64_t Cin, int64_t Cout, int64_t kt);

}  // namespace skipdit::cpu
