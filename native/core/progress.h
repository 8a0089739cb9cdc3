// Progress of a long native call (a load, a VAE decode), reported to whoever started it: the callback runs on the
// thread doing the work, so the bindings forward it to JS through a thread-safe function (bindings/progress.h).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>

namespace skipdit {

// (units done so far, total units): `done` increases by one per call and ends at `total`.
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// What a load takes besides the weights: both optional.
struct LoadHooks {
  const std::atomic<bool>* abort = nullptr;  // checked before each tensor (core/abort.h)
  ProgressFn progress;                       // called after each tensor: (tensors bound, tensors in the source)
};

}  // namespace skipdit
