#include "model/weights.h"

namespace skipdit {

std::vector<std::string> SafetensorsSource::names() const {
  std::vector<std::string> out;
  for (auto& e : file_.entries()) out.push_back(e.name);
  return out;
}

WeightBinder::WeightBinder(const WeightSource& source, Backend& backend, const LoadHooks& hooks)
    : source_(source), backend_(backend), hooks_(hooks) {
  if (hooks_.progress) total_ = static_cast<int64_t>(source_.names().size());
}

Tensor WeightBinder::take(const std::string& name, const Shape& shape) {
  check_abort(hooks_.abort);
  Tensor t = take_one(name, shape);
  // Past the total only when the file lacks tensors the model takes: the load then fails in finish().
  if (hooks_.progress && ++done_ <= total_) hooks_.progress(done_, total_);
  return t;
}

Tensor WeightBinder::take_one(const std::string& name, const Shape& shape) {
  taken_.insert(name);
  if (!source_.has(name)) {
    missing_.push_back(name + " " + shape_str(shape));
    return {};
  }
  Shape got = source_.shape(name);
  if (got != shape) {
    misshaped_.push_back(name + ": expected " + shape_str(shape) + ", file has " + shape_str(got));
    return {};
  }
  Tensor host = source_.get(name);
  if (host.dtype() == DType::I64) {
    misshaped_.push_back(name + ": expected a floating-point tensor, file has int64");
    return {};
  }
  Tensor uploaded = backend_.upload_f32(host);
  source_.release(name);
  return uploaded;
}

void WeightBinder::finish() {
  std::vector<std::string> unexpected;
  for (auto& n : source_.names())
    if (!taken_.count(n)) unexpected.push_back(n);
  if (missing_.empty() && misshaped_.empty() && unexpected.empty()) return;
  std::string msg = "checkpoint " + source_.describe() + " does not match the model:";
  auto list = [&msg](const char* what, const std::vector<std::string>& items) {
    if (items.empty()) return;
    msg += std::string("\n  ") + what + " (" + std::to_string(items.size()) + "):";
    for (size_t i = 0; i < items.size() && i < 20; ++i) msg += "\n    " + items[i];
    if (items.size() > 20) msg += "\n    ... and " + std::to_string(items.size() - 20) + " more";
  };
  list("missing tensors", missing_);
  list("wrongly shaped tensors", misshaped_);
  list("unexpected tensors", unexpected);
  fail(ErrorKind::Checkpoint, msg);
}

}  // namespace skipdit
