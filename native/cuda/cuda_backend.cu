// CudaBackend: checks shapes (as CpuBackend does), then launches the kernels of native/cuda/ops on the
// backend's stream. The model precision is the weights' (bf16/fp16 weights run on the tensor cores) and,
// through activation_dtype(), the token activations' between ops; conditioning, adaLN modulation, inputs and
// outputs stay float32, and every kernel computes in float32 (statistics, softmax, accumulation).
#include "cuda/cuda_backend.h"

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/dtype_convert.h"
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_device.h"
#include "cuda/cuda_graph.h"
#include "cuda/ops/activations.cuh"
#include "cuda/ops/add_rows.cuh"
#include "cuda/ops/attention.cuh"
#include "cuda/ops/cfg_guidance.cuh"
#include "cuda/ops/sampler_update.cuh"
#include "cuda/ops/convert.cuh"
#include "cuda/ops/embeddings.cuh"
#include "cuda/ops/gemm.cuh"
#include "cuda/ops/group_norm.cuh"
#include "cuda/ops/layer_norm.cuh"
#include "cuda/ops/layout.cuh"
#include "cuda/ops/modulate.cuh"

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

WeightType weight_type(DType t) {
  switch (t) {
    case DType::F32: return WeightType::F32;
    case DType::BF16: return WeightType::BF16;
    case DType::F16: return WeightType::F16;
    default: fail(ErrorKind::Internal, "linear: weights must be float32, bfloat16 or float16");
  }
}

float* fp(const Tensor& t) {
  SKIPDIT_CHECK(t.dtype() == DType::F32 && t.device() == Device::CUDA, "expected a float32 CUDA tensor, got " +
                                                                            t.describe());
  return static_cast<float*>(t.raw());
}
const float* fp_or_null(const Tensor& t) { return t.defined() ? fp(t) : nullptr; }

// Activation element types: float, __nv_bfloat16, __half.
template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<__nv_bfloat16>() { return DType::BF16; }
template <> constexpr DType dtype_of<__half>() { return DType::F16; }
template <typename T> struct Tag { using type = T; };

// Calls f(Tag<T>{}) with T the element type of an activation tensor.
template <class F>
void with_act_type(const Tensor& t, const char* op, F&& f) {
  switch (t.dtype()) {
    case DType::F32: f(Tag<float>{}); break;
    case DType::BF16: f(Tag<__nv_bfloat16>{}); break;
    case DType::F16: f(Tag<__half>{}); break;
    default: fail(ErrorKind::Internal, std::string(op) + ": unsupported activation " + t.describe());
  }
}

// The typed device pointer of a tensor that must hold T.
template <typename T>
T* ap(const Tensor& t) {
  SKIPDIT_CHECK(t.dtype() == dtype_of<T>() && t.device() == Device::CUDA,
                std::string("expected a ") + dtype_name(dtype_of<T>()) + " CUDA tensor, got " + t.describe());
  return static_cast<T*>(t.raw());
}

// ------------------------------------------------------------------------------------------- backend
class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(Precision precision) : precision_(precision), pool_(std::make_shared<DevicePool>()) {
    const Availability& a = availability();
    if (!a.available) fail(ErrorKind::BackendUnavailable, "CUDA backend unavailable: " + a.reason);
    CUDA_CHECK(cudaSetDevice(0));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
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
    if (regions_.staging() && host.device() == Device::CPU) {  // fixed pinned buffer -> fixed device tensor
      GraphRegions::Slot slot = regions_.next_slot(DType::F32, host.shape(), allocate_);
      float* staged = static_cast<float*>(slot.host);
      if (host.dtype() == DType::F32) std::memcpy(staged, host.raw(), host.nbytes());
      else convert_to_f32(host, staged);
      if (regions_.mode() == GraphRegions::Mode::Capture)
        CUDA_CHECK(cudaMemcpyAsync(slot.device.raw(), staged, slot.device.nbytes(), cudaMemcpyHostToDevice, stream_));
      return slot.device;
    }
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
    if (regions_.replaying()) return;
    CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDefault, stream_));
    if (src.device() == Device::CPU || dst.device() == Device::CPU) CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void convert(const Tensor& src, Tensor& dst) override {
    EXPECT_SHAPE(src.numel() == dst.numel() && src.device() == Device::CUDA && dst.device() == Device::CUDA, "convert", dst);
    if (regions_.replaying()) return;
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

  // x and y float32, or both of the activation type.
  void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y, Activation act) override {
    if (regions_.replaying()) return;  // the region's graph does it
    with_act_type(x, "linear", [&](auto tag) {
      using T = typename decltype(tag)::type;
      GemmEpilogue<T> ep;
      ep.gelu = act == Activation::GeluTanh;
      ep.y = ap<T>(y);
      run_linear<T>(x, w, bias, y.numel(), ep, "linear");
    });
  }

  void linear_gate_residual(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& mod,
                            int64_t group_repeat, int gate_chunk, Tensor& h, Tensor& scratch) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(h.ndim() == 3, "linear_gate_residual", h);
    const int64_t G = h.dim(0), N = h.dim(1), D = h.dim(2);
    check_cond(mod, group_repeat, G, D);
    with_act_type(x, "linear_gate_residual", [&](auto tag) {
      using T = typename decltype(tag)::type;
      GemmEpilogue<T> ep;
      ep.y = ap<T>(h);
      ep.gate = fp(mod) + gate_chunk * D;
      ep.gate_stride = mod.dim(1);
      ep.rows_per_gate = N * group_repeat;
      run_linear<T>(x, w, bias, h.numel(), ep, "linear_gate_residual");
    });
  }

  void layer_norm(const Tensor& x, float eps, const Tensor& gamma, const Tensor& beta, Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    const int64_t D = x.dim(-1);
    EXPECT_SHAPE(y.numel() == x.numel(), "layer_norm output", y);
    EXPECT_SHAPE(!gamma.defined() || (gamma.numel() == D && beta.numel() == D), "layer_norm affine", gamma);
    with_act_type(x, "layer_norm", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::layer_norm(ap<T>(x), x.numel() / D, D, eps, fp_or_null(gamma), fp_or_null(beta), ap<T>(y), stream_);
    });
  }

  void layer_norm_concat(const Tensor& a, const Tensor& b, float eps, const Tensor& gamma, const Tensor& beta,
                         Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    const int64_t D = a.dim(-1), rows = a.numel() / D;
    EXPECT_SHAPE(b.numel() == a.numel() && y.numel() == 2 * a.numel(), "layer_norm_concat", y);
    EXPECT_SHAPE(gamma.numel() == 2 * D && beta.numel() == 2 * D, "layer_norm_concat affine", gamma);
    with_act_type(a, "layer_norm_concat", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::layer_norm_concat(ap<T>(a), ap<T>(b), rows, D, eps, fp(gamma), fp(beta), ap<T>(y), stream_);
    });
  }

  void layer_norm_modulate(const Tensor& x, float eps, const Tensor& mod, int64_t group_repeat, int shift_chunk,
                           int scale_chunk, Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(x.ndim() == 3 && y.numel() == x.numel(), "layer_norm_modulate", x);
    const int64_t G = x.dim(0), N = x.dim(1), D = x.dim(2);
    check_cond(mod, group_repeat, G, D);
    with_act_type(x, "layer_norm_modulate", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::layer_norm_modulate(ap<T>(x), G, N, D, eps, fp(mod), mod.dim(1), group_repeat, shift_chunk * D,
                                scale_chunk * D, ap<T>(y), stream_);
    });
  }

  void modulate(const Tensor& x, const Tensor& mod, int64_t group_repeat, int shift_chunk, int scale_chunk,
                Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(x.ndim() == 3 && y.numel() == x.numel(), "modulate", x);
    const int64_t G = x.dim(0), N = x.dim(1), D = x.dim(2);
    check_cond(mod, group_repeat, G, D);
    cuda::modulate(fp(x), G, N, D, fp(mod), mod.dim(1), group_repeat, shift_chunk * D, scale_chunk * D, fp(y),
                   stream_);
  }

  void gate_residual(Tensor& h, const Tensor& y, const Tensor& mod, int64_t group_repeat, int gate_chunk) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(h.ndim() == 3 && y.numel() == h.numel(), "gate_residual", h);
    const int64_t G = h.dim(0), N = h.dim(1), D = h.dim(2);
    check_cond(mod, group_repeat, G, D);
    cuda::gate_residual(fp(h), fp(y), G, N, D, fp(mod), mod.dim(1), group_repeat, gate_chunk * D, stream_);
  }

  void silu(const Tensor& x, Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(y.numel() == x.numel(), "silu", y);
    cuda::silu(fp(x), x.numel(), fp(y), stream_);
  }

  void gelu_tanh(const Tensor& x, Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(y.numel() == x.numel(), "gelu_tanh", y);
    cuda::gelu_tanh(fp(x), x.numel(), fp(y), stream_);
  }

  void add(Tensor& x, const Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(y.numel() == x.numel(), "add", y);
    cuda::add(fp(x), fp(y), x.numel(), stream_);
  }

  void add_broadcast_rows(Tensor& x, const Tensor& e) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(x.ndim() == 3 && e.numel() == x.dim(1) * x.dim(2), "add_broadcast_rows", e);
    with_act_type(x, "add_broadcast_rows", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::add_broadcast_rows(ap<T>(x), x.dim(0), x.dim(1), x.dim(2), fp(e), stream_);
    });
  }

  void attention(const Tensor& qkv, int64_t heads, Tensor& out) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(qkv.ndim() == 3 && qkv.dim(2) % (3 * heads) == 0, "attention qkv", qkv);
    const int64_t G = qkv.dim(0), N = qkv.dim(1), D = qkv.dim(2) / 3;
    EXPECT_SHAPE(out.numel() == G * N * D, "attention output", out);
    with_act_type(qkv, "attention", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::attention(ap<T>(qkv), G, N, heads, D / heads, ap<T>(out), stream_);
    });
  }

  void patch_embed(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& cols, Tensor& tokens) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(x.ndim() == 4 && w.ndim() == 4 && w.dim(1) == x.dim(1) && w.dim(2) == w.dim(3), "patch_embed", w);
    const int64_t B = x.dim(0), C = x.dim(1), Hs = x.dim(2), Ws = x.dim(3), p = w.dim(2), D = w.dim(0);
    EXPECT_SHAPE(Hs % p == 0 && Ws % p == 0, "patch_embed input", x);
    const int64_t T = (Hs / p) * (Ws / p), F = C * p * p;
    EXPECT_SHAPE(cols.numel() >= B * T * F && tokens.numel() == B * T * D, "patch_embed output", tokens);
    im2col_patches(fp(x), B, C, Hs, Ws, p, fp(cols), stream_);
    // The conv weight stays float32 (it is not a prepare_linear weight): a small K = C*p*p float32 GEMM whose
    // output is rounded once to the tokens' activation type.
    with_act_type(tokens, "patch_embed", [&](auto tag) {
      using Act = typename decltype(tag)::type;  // (T is the token count here)
      GemmEpilogue<Act> ep;
      ep.bias = fp(bias);
      ep.y = ap<Act>(tokens);
      gemm(DenseA<float>{fp(cols), F, aligned(cols) && F % 4 == 0}, B * T, F, GemmWeight{fp(w), WeightType::F32, F},
           D, ep, stream_);
    });
  }

  void timestep_frequencies(const Tensor& t, Tensor& out) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(out.ndim() == 2 && out.dim(0) == t.numel(), "timestep_frequencies", out);
    cuda::timestep_frequencies(fp(t), t.numel(), out.dim(1), fp(out), stream_);
  }

  void embedding(const Tensor& table, const Tensor& labels, Tensor& out) override {
    const int64_t rows = table.dim(0), D = table.dim(1), B = labels.numel();
    EXPECT_SHAPE(out.numel() == B * D, "embedding output", out);
    SKIPDIT_CHECK(labels.device() == Device::CPU, "embedding: labels are read on the host");
    const int64_t* y = labels.i64();
    for (int64_t b = 0; b < B; ++b)
      if (y[b] < 0 || y[b] >= rows)
        fail(ErrorKind::InvalidArgument, "label " + std::to_string(y[b]) + " at index " + std::to_string(b) +
                                             " is outside the embedding table [0, " + std::to_string(rows) + ")");
    if (regions_.staging()) {  // as upload_f32: fixed pinned buffer -> fixed device tensor
      GraphRegions::Slot slot = regions_.next_slot(DType::I64, {B}, allocate_);
      std::memcpy(slot.host, y, B * sizeof(int64_t));
      if (regions_.replaying()) return;
      CUDA_CHECK(cudaMemcpyAsync(slot.device.raw(), slot.host, B * sizeof(int64_t), cudaMemcpyHostToDevice, stream_));
      embedding_lookup(fp(table), D, static_cast<const int64_t*>(slot.device.raw()), B, fp(out), stream_);
      return;
    }
    if (!labels_.defined() || labels_.numel() < B) labels_ = empty(DType::I64, {B});
    CUDA_CHECK(cudaMemcpyAsync(labels_.raw(), y, B * sizeof(int64_t), cudaMemcpyHostToDevice, stream_));
    embedding_lookup(fp(table), D, static_cast<const int64_t*>(labels_.raw()), B, fp(out), stream_);
  }

  void unpatchify(const Tensor& tokens, int64_t patch, Tensor& out) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(tokens.ndim() == 3 && out.ndim() == 4, "unpatchify", out);
    const int64_t B = tokens.dim(0), C = out.dim(1), G = out.dim(2) / patch;
    EXPECT_SHAPE(tokens.dim(1) == G * G && tokens.dim(2) == patch * patch * C && out.dim(0) == B, "unpatchify", tokens);
    with_act_type(tokens, "unpatchify", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::unpatchify(ap<T>(tokens), B, G, patch, C, fp(out), stream_);
    });
  }

  void swap_token_axes(const Tensor& x, int64_t batch, Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(x.ndim() == 3 && x.dim(0) % batch == 0 && y.numel() == x.numel(), "swap_token_axes", x);
    const int64_t A1 = x.dim(0) / batch, A2 = x.dim(1), D = x.dim(2);
    EXPECT_SHAPE(y.ndim() == 3 && y.dim(0) == batch * A2 && y.dim(1) == A1, "swap_token_axes output", y);
    with_act_type(x, "swap_token_axes", [&](auto tag) {
      using T = typename decltype(tag)::type;
      cuda::swap_token_axes(ap<T>(x), batch, A1, A2, D, ap<T>(y), stream_);
    });
  }

  void cfg_guidance(const Tensor& raw, int64_t frames, int64_t channels, int64_t guided_channels, float scale,
                    Tensor& out) override {
    if (regions_.replaying()) return;  // the region's graph does it
    const int64_t B = raw.dim(0), HW = raw.numel() / (B * frames * channels);
    EXPECT_SHAPE(B % 2 == 0 && out.numel() == raw.numel() && guided_channels <= channels, "cfg_guidance", raw);
    SKIPDIT_CHECK(raw.device() == Device::CUDA && out.device() == Device::CUDA, "cfg_guidance: device tensors expected");
    cuda::cfg_guidance(fp(raw), B, frames, channels, HW, guided_channels, scale, fp(out), stream_);
  }

  void sampler_update(const Tensor& model_out, int64_t outer, int64_t channels, const Tensor& noise,
                      const SamplerUpdate& u, Tensor& x) override {
    if (regions_.replaying()) return;  // (never inside a region today: the update follows the forward's region)
    const bool doubled = check_sampler_update(model_out, outer, channels, noise, u, x);
    SKIPDIT_CHECK(x.device() == Device::CUDA && model_out.device() == Device::CUDA &&
                      (!u.needs_noise() || noise.device() == Device::CUDA),
                  "sampler_update: device tensors expected");
    cuda::sampler_update(fp(model_out), doubled, outer, channels, x.numel() / (outer * channels),
                         u.needs_noise() ? fp(noise) : nullptr, u, fp(x), stream_);
  }

  void group_norm(const Tensor& x, int64_t groups, float eps, const Tensor& gamma, const Tensor& beta, bool silu,
                  Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(x.ndim() == 4 && y.numel() == x.numel() && groups > 0 && x.dim(1) % groups == 0, "group_norm", x);
    EXPECT_SHAPE(gamma.numel() == x.dim(1) && beta.numel() == x.dim(1), "group_norm affine", gamma);
    cuda::group_norm(fp(x), x.dim(0), x.dim(1), x.dim(2) * x.dim(3), groups, eps, fp(gamma), fp(beta), silu, fp(y),
                     stream_);
  }

  void conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t k, Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(x.ndim() == 4 && y.ndim() == 4 && k % 2 == 1, "conv2d", x);
    const int64_t B = x.dim(0), Cin = x.dim(1), H = x.dim(2), W = x.dim(3), Cout = y.dim(1), K = Cin * k * k;
    EXPECT_SHAPE(y.dim(0) == B && y.dim(2) == H && y.dim(3) == W && bias.numel() == Cout, "conv2d output", y);
    check_weight(w, Cout, K, "conv2d weight");
    GemmEpilogue<float> ep;
    ep.bias = fp(bias);
    ep.y = fp(y);
    ep.hw = H * W;  // the GEMM's (pixel, cout) result is stored channels-first
    const Im2colA a{fp(x), int(Cin), int(H), int(W), int(k), int((k - 1) / 2)};
    gemm(a, B * H * W, K, GemmWeight{w.raw(), weight_type(w.dtype()), w.dim(1)}, Cout, ep, stream_);
  }

  void begin_region(const std::string& key) override { regions_.begin(key, stream_); }
  void end_region(bool ok) override { regions_.end(ok, stream_); }
  int64_t region_launches() const override { return regions_.launches(); }

  void upsample_nearest2x(const Tensor& x, Tensor& y) override {
    if (regions_.replaying()) return;  // the region's graph does it
    EXPECT_SHAPE(x.ndim() == 4 && y.ndim() == 4 && y.numel() == 4 * x.numel(), "upsample_nearest2x", y);
    cuda::upsample_nearest2x(fp(x), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), fp(y), stream_);
  }

 private:
  static bool aligned(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw()) % 16 == 0; }

  void check_cond(const Tensor& mod, int64_t group_repeat, int64_t G, int64_t D) {
    EXPECT_SHAPE(mod.ndim() == 2 && mod.dim(1) % D == 0, "adaLN modulation", mod);
    EXPECT_SHAPE(group_repeat > 0 && G % group_repeat == 0 && G / group_repeat == mod.dim(0), "adaLN rows", mod);
  }

  // A weight as prepare_linear left it: float32 (N, K), or bf16/fp16 (N, K padded to 8).
  static void check_weight(const Tensor& w, int64_t N, int64_t K, const char* op) {
    const bool f32 = w.dtype() == DType::F32;
    EXPECT_SHAPE(w.ndim() == 2 && w.device() == Device::CUDA && w.dim(0) == N &&
                     w.dim(1) == (f32 ? K : padded_ld(K)),
                 op, w);
  }

  // A of element type T (the output's, checked by the caller's ap<T>); bf16 / fp16 A needs weights of that type.
  template <typename T>
  void run_linear(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t out_numel, const GemmEpilogue<T>& base,
                  const char* op) {
    const int64_t K = x.dim(-1), M = x.numel() / K, N = w.dim(0);
    check_weight(w, N, K, op);
    EXPECT_SHAPE(out_numel == M * N, op, x);
    EXPECT_SHAPE(!bias.defined() || bias.numel() == N, op, bias);
    GemmEpilogue<T> ep = base;
    ep.bias = fp_or_null(bias);
    gemm(DenseA<T>{ap<T>(x), K, aligned(x) && K % 4 == 0}, M, K,
         GemmWeight{w.raw(), weight_type(w.dtype()), w.dim(1)}, N,
         ep, stream_);
  }

  Precision precision_;
  std::shared_ptr<DevicePool> pool_;
  cudaStream_t stream_ = nullptr;
  Tensor labels_;  // device copy of the labels of the last embedding call (outside graph regions)
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
