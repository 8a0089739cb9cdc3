// Activation memory of one model, keyed by role. A request returns a view of the role's buffer, which
// grows only when a bigger shape is asked for, so repeated forwards at one batch size allocate nothing.
// Bounds (see Model): `max_bytes` caps what one call may hold (a bigger request is an InvalidArgument error
// before anything is allocated for it); the model releases everything after a call that failed or that left
// more than its retain limit.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/error.h"

namespace skipdit {

class Workspace {
 public:
  explicit Workspace(Backend& backend) : backend_(backend) {}

  // 0: no cap.
  void set_max_bytes(size_t max_bytes) { max_bytes_ = max_bytes; }

  Tensor get(const std::string& role, const Shape& shape, DType dtype = DType::F32) {
    const size_t bytes = shape_numel(shape) * dtype_size(dtype);
    Tensor& slot = slots_[role];
    if (!slot.defined() || slot.nbytes() < bytes) {
      const size_t grown = this->bytes() - (slot.defined() ? slot.nbytes() : 0) + bytes;
      if (max_bytes_ > 0 && grown > max_bytes_) {
        fail(ErrorKind::InvalidArgument, "Expected a call needing at most options.workspace.max = " +
                                             std::to_string(max_bytes_) + " bytes of workspace but received one needing " +
                                             std::to_string(grown) + " or more (buffer '" + role + "'): use a smaller batch");
      }
      slot = Tensor();  // free the old buffer before allocating the bigger one
      slot = backend_.empty(DType::F32, {int64_t((bytes + 3) / 4)});
      ++generation_;
    }
    return Tensor(slot.buffer(), 0, dtype, shape);
  }

  // Frees every buffer (the next call allocates again; recorded graphs see a new generation).
  void release() {
    if (slots_.empty()) return;
    slots_.clear();
    ++generation_;
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
  size_t max_bytes_ = 0;
};

}  // namespace skipdit
