#include "graph/arena.h"

namespace skipdit {

const Tensor& GraphArena::reserve(size_t bytes) {
  if (buffer_.defined() && buffer_.nbytes() >= bytes) return buffer_;
  if (max_ > 0 && bytes > max_)
    fail(ErrorKind::InvalidArgument, "Expected a call needing at most options.workspace.max = " + std::to_string(max_) +
                                         " bytes of workspace but received one needing " + std::to_string(bytes) +
                                         ": use a smaller batch");
  buffer_ = Tensor();  // free the old arena before allocating the bigger one
  buffer_ = backend_.empty(DType::F32, {int64_t((bytes + 3) / 4)});
  return buffer_;
}

void GraphArena::end_call(bool failed) {
  // A failed call's arena (typically a batch too big for the memory) helps no one: free it.
  if (failed || (buffer_.defined() && buffer_.nbytes() > retain_)) {
    if (failed) {
      try {
        backend_.synchronize();  // no kernel may still be writing into what is freed
      } catch (...) {
      }
    }
    buffer_ = Tensor();
  }
  held_ = buffer_.defined() ? buffer_.nbytes() : 0;
}

}  // namespace skipdit
