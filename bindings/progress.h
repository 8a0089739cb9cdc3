// Progress of a worker, reported to a JS function (done, total). The worker thread never calls JS: it posts to a
// thread-safe function without blocking, at most every 50 ms, and always the last report (done == total), which
// it then waits for, so the JS side has seen every report before the call's promise settles (the promise is
// settled by the worker's completion callback, which libuv may run before a pending thread-safe call).
#pragma once
#include <napi.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "core/progress.h"

namespace skipdit::bindings {

class ProgressReporter {
 public:
  // `callback`: a JS function, or undefined / null for none; anything else is InvalidArgument naming `field`.
  ProgressReporter(Napi::Env env, const Napi::Value& callback, const std::string& field);
  // Releases the thread-safe function: reports still queued are delivered, then it closes.
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // The native callback, to be called from the one worker thread doing the work; empty without a JS callback.
  ProgressFn fn();

 private:
  // Set once the JS callback has run for the last report (or the environment is shutting down).
  struct Delivery {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
  };
  struct Report {
    int64_t done, total;
    std::shared_ptr<Delivery> delivery;  // the last report only
  };
  static void CallJs(Napi::Env env, Napi::Function callback, std::nullptr_t* context, Report* report);
  using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Report, &ProgressReporter::CallJs>;

  void report(int64_t done, int64_t total);

  Tsfn tsfn_;
  bool active_ = false;
  bool posted_ = false;  // throttle state: touched by the worker thread only
  std::chrono::steady_clock::time_point last_post_;
};

}  // namespace skipdit::bindings
