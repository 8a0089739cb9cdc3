// Cancellation of a running native call: the JS side sets the flag when its AbortSignal fires; long loops
// (transformer blocks, VAE blocks and chunks) check it between units of work and stop with ErrorKind::Aborted.
#pragma once
#include <atomic>
#include <memory>

#include "core/error.h"

namespace skipdit {

using AbortFlag = std::shared_ptr<std::atomic<bool>>;

// Throws Aborted when `flag` (may be null: not cancellable) has been set.
inline void check_abort(const std::atomic<bool>* flag) {
  if (flag && flag->load(std::memory_order_relaxed)) fail(ErrorKind::Aborted, "The operation was aborted");
}

}  // namespace skipdit
