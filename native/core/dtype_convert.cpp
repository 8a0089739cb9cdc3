#include "core/dtype_convert.h"

#include <cmath>

namespace skipdit {

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);  // zero / subnormal
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

void convert_to_f32(const Tensor& src, float* dst) {
  const int64_t n = src.numel();
  const auto* bytes = static_cast<const unsigned char*>(src.raw());
  switch (src.dtype()) {
    case DType::F32: std::memcpy(dst, bytes, n * sizeof(float)); return;
    case DType::BF16:
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        dst[i] = src.dtype() == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
      }
      return;
    default:
      fail(ErrorKind::InvalidArgument, std::string("cannot convert ") + dtype_name(src.dtype()) + " to float32");
  }
}

}  // namespace skipdit
