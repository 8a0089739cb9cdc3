#include "core/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <string>
#include <system_error>

#include "core/error.h"

namespace skipdit {

namespace {
// How long a worker polls for the next job, and the caller for the workers to finish, before sleeping.
constexpr auto kSpin = std::chrono::microseconds(200);

// Polls `done` with pause instructions until it holds (true) or kSpin has passed (false).
template <class Done>
bool spin_until(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (done()) return true;
    _mm_pause();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return false;
  }
}

void run_chunk(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int chunks, int index) {
  int64_t begin = n * index / chunks, end = n * (index + 1) / chunks;
  if (begin < end) fn(begin, end);
}
}  // namespace

int ThreadPool::threads_from_env(const char* value) {
  const int hardware = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (value == nullptr || *value == '\0') return hardware;
  // Strict: "8" only (atoi read "8x" as 8 and "100000" made the process abort in std::thread).
  char* end = nullptr;
  const long n = std::strtol(value, &end, 10);
  if (*end != '\0' || n < 1 || n > kMaxThreads) {
    fail(ErrorKind::InvalidArgument, "Expected an integer from 1 to " + std::to_string(kMaxThreads) +
                                         " for SKIPDIT_NUM_THREADS but received '" + std::string(value).substr(0, 40) + "'");
  }
  return static_cast<int>(n);
}

ThreadPool& ThreadPool::global() {
  // A throwing initialiser leaves the static uninitialised: every later call reports the same error.
  static ThreadPool pool(threads_from_env(std::getenv("SKIPDIT_NUM_THREADS")));
  return pool;
}

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) {
    try {
      workers_.emplace_back([this, i] { worker_loop(i); });
    } catch (const std::system_error&) {
      // The system refused another thread (ulimit -u, memory): run with the ones we have.
      num_threads_ = i;
      break;
    }
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int worker_index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t, int64_t)>* job;
    int64_t n;
    int chunks;
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
      chunks = job_chunks_;
    }
    std::exception_ptr err;
    if (worker_index < chunks) {
      try {
        run_chunk(*job, n, chunks, worker_index);
      } catch (...) {
        err = std::current_exception();
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (err && !error_) error_ = err;
    if (--pending_ == 0) work_done_.notify_one();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
  int chunks = static_cast<int>(std::min<int64_t>(num_threads_, max_chunks));
  if (chunks == 1) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    job_chunks_ = chunks;
    pending_ = num_threads_ - 1;
    error_ = nullptr;
    ++generation_;
  }
  work_ready_.notify_all();
  std::exception_ptr err;
  try {
    run_chunk(fn, n, chunks, 0);
  } catch (...) {
    err = std::current_exception();
  }
  spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [&] { return pending_ == 0; });
  if (!err) err = error_;
  job_ = nullptr;
  lock.unlock();
  if (err) std::rethrow_exception(err);
}

}  // namespace skipdit
