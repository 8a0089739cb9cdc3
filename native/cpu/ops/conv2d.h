// 2-D convolution (cross-correlation), stride 1, zero padding: the VAE decoder's 3x3 and 1x1 convs.
// Lowered to im2col + the GEMM of linear.cpp, one image at a time.
#pragma once
#include <cstdint>

namespace skipdit::cpu {

// Rows [p0, p1) of the im2col matrix (H*W, Cin*k*k) of x (Cin, H, W) for a k x k kernel with `pad` zeros
// around (output H x W when pad = (k-1)/2). Feature order (ci, ky, kx), matching a weight [Cout, Cin, k, k].
void im2col(const float* x, int64_t Cin, int64_t H, int64_t W, int64_t k, int64_t pad, int64_t p0, int64_t p1,
            float* cols);

// Output pixels per im2col tile: bounds the scratch to conv_scratch_floats() whatever the image size.
constexpr int64_t kConvTilePixels = 4096;
inline int64_t conv_scratch_floats(int64_t Cin, int64_t Cout, int64_t k) {
  return kConvTilePixels * (Cin * k * k + Cout);
}

// y (B, Cout, H, W) = conv(x (B, Cin, H, W), w) + bias (Cout) for odd k with same padding, where w is the
// weight (Cout, Cin, k, k) as a (Cout, Cin*k*k) matrix packed by gemm_pack. scratch holds
// conv_scratch_floats(Cin, Cout, k) floats.
void conv2d_same(const float* x, int64_t B, int64_t Cin, int64_t H, int64_t W, const float* packed_w, const float* bias,
                 int64_t Cout, int64_t k, float* scratch, float* y);

}  // namespace skipdit::cpu
