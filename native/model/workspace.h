// Activation memory of one model, keyed by role. A request returns a view of the role's buffer, which
// grows only when a bigger shape is asked for, so repeated forwards at one batch size allocate nothing.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace skipdit {

class Workspace {
 public:
  explicit Workspace(Backend& backend) : backend_(backend) {}

  Tensor get(const std::string& role, const Shape& shape, DType dtype = DType::F32) {
    const size_t bytes = shape_numel(shape) * dtype_size(dtype);
    Tensor& slot = slots_[role];
    if (!slot.defined() || slot.nbytes() < bytes) {
      slot = backend_.empty(DType::F32, {int64_t((bytes + 3) / 4)});
      ++generation_;
    }
    return Tensor(slot.buffer(), 0, dtype, shape);
  }

  // A token-activation buffer, in the backend's activation dtype (see Backend::activation_dtype).
  Tensor activations(const std::string& role, const Shape& shape) {
    return get(role, shape, backend_.activation_dtype());
  }

  // A tensor read only by linear layers, in the backend's operand dtype (see Backend::operand_dtype).
  Tensor operands(const std::string& role, const Shape& shape) { return get(role, shape, backend_.operand_dtype()); }

  // Bumped whenever a buffer is replaced: a recorded graph (Backend::begin_region) holds the old addresses.
  uint64_t generation() const { return generation_; }

  size_t bytes() const {
    size_t total = 0;
    for (auto& [role, t] : slots_) total += t.nbytes();
    return total;
  }

 private:
  Backend& backend_;
  std::map<std::string, Tensor> slots_;
  uint64_t generation_ = 0;
};

}  // namespace skipdit
