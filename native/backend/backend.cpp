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

}  // namespace skipdit
