// Error type of the native core. Every failure the user can cause (bad input, bad checkpoint, missing
// backend) is thrown as skipdit::Error with a kind; the bindings turn the kind into a typed JS error.
#pragma once
#include <stdexcept>
#include <string>

namespace skipdit {

enum class ErrorKind {
  InvalidArgument,     // a caller-supplied value has the wrong shape, dtype or range
  Checkpoint,          // a weights file is malformed, or misses / has unexpected / misshaped tensors
  BackendUnavailable,  // the requested backend cannot run here (no GPU, no driver, op not implemented)
  Internal,            // a bug or a system failure (allocation, mmap, CUDA call)
  Aborted,             // the caller's AbortSignal fired while the call ran (checked between blocks)
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

// Checks an internal invariant; a failure is a bug, reported with its location instead of a crash.
#define SKIPDIT_CHECK(cond, msg)                                                                   \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::skipdit::fail(::skipdit::ErrorKind::Internal,                                              \
                      std::string("internal check failed: ") + #cond + " (" + (msg) + ") at " +   \
                          __FILE__ + ":" + std::to_string(__LINE__));                              \
  } while (0)

}  // namespace skipdit
