// CudaBackend: device memory (a caching pool), and the kernels of native/cuda/ops launched node by node on the
// backend's stream (cuda_kernels.cuh), or recorded once and replayed as CUDA graphs. The model precision is the weights' (bf16/fp16 weights run on the tensor cores) and,
// through activation_dtype(), the token activations' between ops; conditioning, adaLN modulation, inputs and
// outputs stay float32, and every kernel computes in float32 (statistics, softmax, accumulation).
#include "cuda/cuda_backend.h"

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/dtype_convert.h"
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_device.h"
#include "cuda/cuda_graph.h"
#include "core/abort.h"
#include "cuda/cuda_kernels.cuh"
#include "cuda/ops/convert.cuh"

namespace skipdit {

namespace {

using namespace cuda;

#define EXPECT_SHAPE(cond, op, t) SKIPDIT_CHECK(cond, std::string(op) + ": unexpected shape " + (t).describe())

// ------------------------------------------------------------------------------------------- memory pool
// Device blocks are cached by size class when their last tensor dies and handed out again for a request of
// the same class, so the per-step scratch of a model or the VAE costs no cudaMalloc after the first call. Blocks are freed when the pool (held by the backend and every buffer
// it made) goes away, or all at once when a cudaMalloc fails.
class DevicePool : public std::enable_shared_from_this<DevicePool> {
 public:
  ~DevicePool() { trim(); }

  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        return p;
      }
    }
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {  // give the cached blocks back and try once more
      cudaGetLastError();
      trim();
      err = cudaMalloc(&p, bytes);
    }
    if (err != cudaSuccess) throw_cuda_error(err, ("cudaMalloc of " + std::to_string(bytes >> 20) + " MiB").c_str(),
                                             __FILE__, __LINE__);
    return p;
  }

  void give(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.emplace(bytes, p);
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, p] : free_) cudaFree(p);
    free_.clear();
  }

  static size_t size_class(size_t bytes) {
    const size_t kGrain = 512;
    return (bytes + kGrain - 1) / kGrain * kGrain;
  }

 private:
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;
};

class PooledBuffer final : public Buffer {
 public:
  PooledBuffer(std::shared_ptr<DevicePool> pool, void* data, size_t bytes)
      : Buffer(data, bytes, Device::CUDA), pool_(std::move(pool)) {}
  ~PooledBuffer() override { pool_->give(data_, bytes_); }

 private:
  std::shared_ptr<DevicePool> pool_;
};

// ------------------------------------------------------------------------------------------- backend
class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(Precision precision) : precision_(precision), pool_(std::make_shared<DevicePool>()) {
    const Availability& a = availability();
    if (!a.available) fail(ErrorKind::BackendUnavailable, "CUDA backend unavailable: " + a.reason);
    CUDA_CHECK(cudaSetDevice(0));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    ctx_ = Context{stream_, precision_};
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda"; }
  Device device() const override { return Device::CUDA; }
  // bf16 / fp16 models keep their token activations in the weight type (half the activation bytes).
  DType activation_dtype() const override {
    return precision_ == Precision::BF16 ? DType::BF16 : precision_ == Precision::F16 ? DType::F16 : DType::F32;
  }

  Tensor empty(DType dtype, const Shape& shape) override {
    SKIPDIT_CHECK(!regions_.staging(), "allocation inside a CUDA graph region (" + std::string(dtype_name(dtype)) +
                                           shape_str(shape) + "): its key misses a buffer change; " +
                                           "SKIPDIT_CUDA_GRAPHS=0 avoids it");
    const size_t bytes = DevicePool::size_class(std::max<size_t>(1, shape_numel(shape) * dtype_size(dtype)));
    void* p = pool_->take(bytes);
    auto buffer = std::make_shared<PooledBuffer>(pool_, p, bytes);
    // Zero-filled like Tensor::host, so nothing reads stale memory (once per allocation, never per step).
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
    return Tensor(buffer, 0, dtype, shape);
  }

  Tensor upload_f32(const Tensor& host) override {
    Tensor out = empty(DType::F32, host.shape());
    if (host.device() == Device::CUDA) {
      SKIPDIT_CHECK(host.dtype() == DType::F32, "upload_f32 of a device tensor must be float32");
      copy(host, out);
      return out;
    }
    if (host.dtype() == DType::F32) {
      CUDA_CHECK(cudaMemcpyAsync(out.raw(), host.raw(), host.nbytes(), cudaMemcpyHostToDevice, stream_));
    } else {
      std::vector<float> tmp(host.numel());
      convert_to_f32(host, tmp.data());
      CUDA_CHECK(cudaMemcpyAsync(out.raw(), tmp.data(), tmp.size() * sizeof(float), cudaMemcpyHostToDevice, stream_));
      CUDA_CHECK(cudaStreamSynchronize(stream_));  // tmp dies here
    }
    return out;
  }

  void download(const Tensor& src, float* dst) override {
    SKIPDIT_CHECK(!regions_.staging(), "download inside a CUDA graph region");
    const bool low = src.dtype() == DType::BF16 || src.dtype() == DType::F16;
    SKIPDIT_CHECK(src.dtype() == DType::F32 || (low && src.device() == Device::CUDA), "download of " + src.describe());
    Tensor wide = src;
    if (low) {  // a bf16 / fp16 activation (taps): widened on the device first
      wide = empty(DType::F32, src.shape());
      widen_to_f32(src.raw(), src.dtype() == DType::BF16, src.numel(), fp(wide), stream_);
    }
    CUDA_CHECK(cudaMemcpyAsync(dst, wide.raw(), wide.nbytes(), cudaMemcpyDefault, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // also surfaces any fault of the kernels before it
  }

  void copy(const Tensor& src, Tensor& dst) override {
    EXPECT_SHAPE(src.numel() == dst.numel() && src.dtype() == dst.dtype(), "copy", dst);
    const bool on_device = src.device() == Device::CUDA && dst.device() == Device::CUDA;
    SKIPDIT_CHECK(on_device || !regions_.staging(), "host copy inside a CUDA graph region");
    CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDefault, stream_));
    if (src.device() == Device::CPU || dst.device() == Device::CPU) CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void convert(const Tensor& src, Tensor& dst) override {
    EXPECT_SHAPE(src.numel() == dst.numel() && src.device() == Device::CUDA && dst.device() == Device::CUDA, "convert", dst);
    if (src.dtype() == dst.dtype()) return copy(src, dst);
    const bool low_src = src.dtype() == DType::BF16 || src.dtype() == DType::F16;
    const bool low_dst = dst.dtype() == DType::BF16 || dst.dtype() == DType::F16;
    if (low_src && dst.dtype() == DType::F32) return widen_to_f32(src.raw(), src.dtype() == DType::BF16, src.numel(), fp(dst), stream_);
    SKIPDIT_CHECK(src.dtype() == DType::F32 && low_dst, "convert: " + src.describe() + " -> " + dst.describe());
    narrow_from_f32(fp(src), dst.dtype() == DType::BF16, src.numel(), dst.raw(), stream_);
  }

  void synchronize() override {
    SKIPDIT_CHECK(!regions_.staging(), "synchronize inside a CUDA graph region");
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  Tensor prepare_linear(const Tensor& w) override {
    if (!w.defined() || precision_ == Precision::F32) return w;
    EXPECT_SHAPE(w.ndim() == 2, "prepare_linear", w);
    const int64_t N = w.dim(0), K = w.dim(1);
    const bool bf16 = precision_ == Precision::BF16;
    Tensor out = empty(bf16 ? DType::BF16 : DType::F16, {N, padded_ld(K)});
    convert_weight(fp(w), N, K, bf16 ? WeightType::BF16 : WeightType::F16, out.raw(), stream_);
    return out;
  }

  size_t scratch_bytes(const Graph& g, const Graph::Node& node) const override {
    if (std::holds_alternative<ops::PatchEmbed>(node.op)) {  // the im2col columns (B*T, C*p*p) float32
      const TensorDesc& w = g.desc(node.in[1]);
      return sizeof(float) * g.desc(node.out).numel() / w.dim(0) * w.dim(1) * w.dim(2) * w.dim(3);
    }
    return 0;
  }

  // Eager, or (hooks.replayable) recorded: per key (the graph's structural hash and the memory bound to it) the
  // first run is eager, the second captured, later ones replayed. Host externals (timesteps, labels, host
  // latents) are staged: eagerly uploaded to fresh device memory, or, recorded, copied into the key's pinned
  // buffer that the captured graph copies to its fixed device tensor.
  void compute(const Graph& graph, const GraphBindings& b, const ComputeHooks& hooks) override {
    std::vector<Tensor> externals = b.externals;
    const bool record = hooks.replayable && !hooks.tap;
    if (record) regions_.begin(region_key(graph, b), stream_);
    try {
      for (Tensor& t : externals) {
        if (!t.defined() || t.device() == Device::CUDA) continue;
        if (regions_.staging()) {
          GraphRegions::Slot slot = regions_.next_slot(t.dtype() == DType::I64 ? DType::I64 : DType::F32, t.shape(), allocate_);
          if (t.dtype() == DType::I64 || t.dtype() == DType::F32) std::memcpy(slot.host, t.raw(), t.nbytes());
          else convert_to_f32(t, static_cast<float*>(slot.host));
          if (regions_.mode() == GraphRegions::Mode::Capture)
            CUDA_CHECK(cudaMemcpyAsync(slot.device.raw(), slot.host, slot.device.nbytes(), cudaMemcpyHostToDevice, stream_));
          t = slot.device;
        } else if (t.dtype() == DType::I64 || t.dtype() == DType::F32) {
          // A pool block without empty()'s zero fill (the copy writes all of it): the per-step noise comes this way.
          Tensor d = allocate_(t.dtype(), t.shape());
          CUDA_CHECK(cudaMemcpyAsync(d.raw(), t.raw(), t.nbytes(), cudaMemcpyHostToDevice, stream_));
          t = d;
        } else {
          t = upload_f32(t);
        }
      }
      if (regions_.replaying()) {
        const auto t0 = std::chrono::steady_clock::now();
        regions_.end(true, stream_);
        if (hooks.observer)
          hooks.observer->graph_replayed(graph, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        return;
      }
      check_abort(hooks.abort);
      if (regions_.mode() == GraphRegions::Mode::Capture) {  // the nodes are recorded, then launched as one graph
        const auto t0 = std::chrono::steady_clock::now();
        ComputeHooks recording = hooks;
        recording.observer = nullptr;
        run_nodes(graph, bind_values(graph, b, externals), b.arena, recording);
        regions_.end(true, stream_);
        if (hooks.observer)
          hooks.observer->graph_replayed(graph, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        return;
      }
      run_nodes(graph, bind_values(graph, b, externals), b.arena, hooks);
      if (record) regions_.end(true, stream_);
    } catch (...) {
      if (record) regions_.end(false, stream_);
      throw;
    }
  }
  int64_t graph_launches() const override { return regions_.launches(); }

 protected:
  void run_node(const Graph::Node& node, const KernelArgs& args) override {
    std::visit(
        [&](const auto& op) {
          if constexpr (std::is_same_v<std::decay_t<decltype(op)>, std::monostate>) SKIPDIT_CHECK(false, "empty node");
          else kernel(ctx_, op, args);
        },
        node.op);
  }

 private:
  // The graph's structure and every address its kernels will read or write.
  static std::string region_key(const Graph& graph, const GraphBindings& b) {
    std::string key = std::to_string(graph.hash()) + " arena " +
                      std::to_string(reinterpret_cast<uintptr_t>(b.arena.defined() ? b.arena.raw() : nullptr));
    for (const Tensor& t : b.externals)  // host inputs are staged into fixed buffers: their addresses do not matter
      key += " " + (t.defined() && t.device() == Device::CUDA ? std::to_string(reinterpret_cast<uintptr_t>(t.raw()))
                                                             : std::string(t.defined() ? "host" : "-"));
    return key;
  }

  Precision precision_;
  std::shared_ptr<DevicePool> pool_;
  cudaStream_t stream_ = nullptr;
  Context ctx_;
  // Device memory for graph input slots: from the pool, not zeroed (no stream work while capturing).
  GraphRegions::Allocate allocate_ = [this](DType dtype, const Shape& shape) {
    const size_t bytes = DevicePool::size_class(std::max<size_t>(1, shape_numel(shape) * dtype_size(dtype)));
    return Tensor(std::make_shared<PooledBuffer>(pool_, pool_->take(bytes), bytes), 0, dtype, shape);
  };
  GraphRegions regions_;  // destroyed first: its graphs and slots go before the pool
};

}  // namespace

std::shared_ptr<Backend> make_cuda_backend(Precision precision) { return std::make_shared<CudaBackend>(precision); }

}  // namespace skipdit
