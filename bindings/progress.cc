#include "progress.h"

#include "convert.h"

namespace skipdit::bindings {

namespace {
constexpr auto kInterval = std::chrono::milliseconds(50);
}

ProgressReporter::ProgressReporter(Napi::Env env, const Napi::Value& callback, const std::string& field) {
  if (callback.IsUndefined() || callback.IsNull()) return;
  if (!callback.IsFunction()) throw_invalid("Expected a function for " + field);
  tsfn_ = Tsfn::New(env, callback.As<Napi::Function>(), "skipdit.progress", 0, 1);
  active_ = true;
}

ProgressReporter::~ProgressReporter() {
  if (active_) tsfn_.Release();
}

ProgressFn ProgressReporter::fn() {
  if (!active_) return {};
  return [this](int64_t done, int64_t total) { report(done, total); };
}

void ProgressReporter::report(int64_t done, int64_t total) {
  const bool last = done >= total;
  const auto now = std::chrono::steady_clock::now();
  if (!last && posted_ && now - last_post_ < kInterval) return;
  posted_ = true;
  last_post_ = now;
  auto* r = new Report{done, total, last ? std::make_shared<Delivery>() : nullptr};
  std::shared_ptr<Delivery> delivery = r->delivery;
  if (tsfn_.NonBlockingCall(r) != napi_ok) {  // closing (the environment is going away): nobody to tell
    delete r;
    return;
  }
  if (delivery) {
    std::unique_lock<std::mutex> lock(delivery->mutex);
    delivery->cv.wait(lock, [&] { return delivery->done; });
  }
}

// On the JS thread; env is null when the environment shuts down with reports still queued.
void ProgressReporter::CallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, Report* report) {
  std::unique_ptr<Report> r(report);
  if (env != nullptr && !callback.IsEmpty()) {
    try {
      callback.Call({Napi::Number::New(env, double(r->done)), Napi::Number::New(env, double(r->total))});
    } catch (const Napi::Error&) {
      // lib/progress.ts catches what the caller's function throws; anything else must not fail the call either.
    }
  }
  if (r->delivery) {
    std::lock_guard<std::mutex> lock(r->delivery->mutex);
    r->delivery->done = true;
    r->delivery->cv.notify_one();
  }
}

}  // namespace skipdit::bindings
