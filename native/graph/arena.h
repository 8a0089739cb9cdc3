// The memory a model's graphs run in (GraphBindings::arena): one buffer grown to the largest graph recorded so far,
// shared by all of them, capped, and given back after a call that failed or that left more than `retain` bytes.
// Used by the diffusion models, the text encoders and the VAE decoder.
#pragma once
#include <atomic>
#include <string>

#include "backend/backend.h"

namespace skipdit {

class GraphArena {
 public:
  explicit GraphArena(Backend& backend, size_t retain) : backend_(backend), retain_(retain) {}

  // After a call the arena is kept while it is at most `retain` bytes. A call needing more than `max` bytes (0: no
  // cap) fails before allocating (InvalidArgument naming options.workspace.max).
  void set_limits(size_t retain, size_t max) {
    retain_ = retain;
    max_ = max;
  }

  // At least `bytes` of backend memory (allocated only when it grows: the old buffer is freed first).
  const Tensor& reserve(size_t bytes);

  // Bytes held now, updated at the end of every call (safe to read while another call runs).
  size_t bytes() const { return held_.load(); }

  // Brackets one public call: on the way out the arena is released if the call threw (after the backend has
  // finished writing into it) or if it is over the retain limit.
  class CallScope {
   public:
    explicit CallScope(GraphArena& arena) : arena_(arena), exceptions_(std::uncaught_exceptions()) {}
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;
    ~CallScope() { arena_.end_call(std::uncaught_exceptions() > exceptions_); }

   private:
    GraphArena& arena_;
    int exceptions_;
  };

 private:
  void end_call(bool failed);

  Backend& backend_;
  Tensor buffer_;
  size_t retain_, max_ = 0;
  std::atomic<size_t> held_{0};
};

}  // namespace skipdit
