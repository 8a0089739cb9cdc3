// One persistent pool of worker threads for all CPU kernels (no thread team per call). parallel_for splits
// [0, n) into contiguous chunks; the calling thread works on the first chunk. Workers spin briefly after a
// job (a forward is hundreds of parallel_for calls back to back, and a futex wake-up costs tens of
// microseconds on a VM) and then sleep: an idle pool uses no CPU.
// Calls from several threads at once (two models forwarding concurrently) are serialised.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace skipdit {

class ThreadPool {
 public:
  // The process-wide pool, sized to the hardware threads (SKIPDIT_NUM_THREADS overrides; a value that is not
  // an integer in [1, kMaxThreads] is an InvalidArgument error on every call that needs the pool).
  static ThreadPool& global();
  static constexpr int kMaxThreads = 1024;
  // The pool size SKIPDIT_NUM_THREADS asks for (null or empty: the hardware threads).
  static int threads_from_env(const char* value);

  // Starts num_threads - 1 workers (the caller is the last thread); fewer if the system refuses threads.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // fn(begin, end) over disjoint chunks covering [0, n). Chunks are at least `grain` items so that tiny
  // loops stay on the calling thread. Exceptions from any chunk are rethrown here (first one wins).
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int worker_index);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one parallel_for at a time

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  // Written under mutex_, also read without it while spinning (see kSpin in thread_pool.cpp).
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace skipdit
