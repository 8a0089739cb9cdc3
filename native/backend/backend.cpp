#include "backend/backend.h"

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

bool check_sampler_update(const Tensor& model_out, int64_t outer, int64_t channels, const Tensor& noise,
                          const SamplerUpdate& u, const Tensor& x) {
  const std::string what = "sampler_update: ";
  SKIPDIT_CHECK(x.dtype() == DType::F32 && model_out.dtype() == DType::F32, what + "float32 x and model_out expected");
  SKIPDIT_CHECK(outer > 0 && channels > 0 && x.numel() % (outer * channels) == 0,
                what + "x " + x.describe() + " is not (outer " + std::to_string(outer) + ", C " +
                    std::to_string(channels) + ", inner)");
  const bool doubled = model_out.numel() == 2 * x.numel();
  SKIPDIT_CHECK(doubled || model_out.numel() == x.numel(),
                what + "model_out " + model_out.describe() + " has neither the size of x nor twice it");
  SKIPDIT_CHECK(doubled || !(u.kind == SamplerUpdate::Kind::DDPM && u.learned_range),
                what + "learned_range needs the variance channels (2C) in model_out");
  if (u.needs_noise())
    SKIPDIT_CHECK(noise.defined() && noise.dtype() == DType::F32 && noise.numel() == x.numel(),
                  what + "noise like x " + x.describe() + " expected, got " +
                      (noise.defined() ? noise.describe() : std::string("none")));
  return doubled;
}

}  // namespace skipdit
