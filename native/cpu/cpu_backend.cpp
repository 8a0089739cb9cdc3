// CpuBackend: host memory, and the kernels of native/cpu/ops run node by node (cpu_kernels.h).
#include <cstdlib>
#include <cstring>

#include "core/dtype_convert.h"
#include "cpu/cpu_kernels.h"
#include "cpu/ops/conv2d.h"
#include "cpu/ops/gemm.h"
#include "cpu/ops/temporal_conv.h"

namespace skipdit {

namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(Precision precision) {
    ctx_.precision = precision;
    // bf16 weights on the dot-product kernel round every GEMM input to bf16: the tensors that only feed GEMMs
    // are then stored rounded (half the bytes, no rounding pass; bit-identical results).
    // SKIPDIT_CPU_BF16_OPERANDS=0 keeps them float32, for comparison.
    const char* env = std::getenv("SKIPDIT_CPU_BF16_OPERANDS");
    ctx_.bf16_operands = precision == Precision::BF16 &&
                         std::strcmp(cpu::gemm_bf16_kernel_name(), "avx512bf16") == 0 && !(env && std::strcmp(env, "0") == 0);
  }
  DType operand_dtype() const override { return ctx_.bf16_operands ? DType::BF16 : DType::F32; }
  std::string name() const override { return "cpu"; }
  Device device() const override { return Device::CPU; }

  Tensor empty(DType dtype, const Shape& shape) override { return Tensor::host(dtype, shape); }

  Tensor upload_f32(const Tensor& host) override {
    Tensor out = Tensor::host(DType::F32, host.shape());
    convert_to_f32(host, out.f32());
    return out;
  }

  void download(const Tensor& src, float* dst) override {
    if (src.dtype() == DType::F32) std::memcpy(dst, src.f32(), src.numel() * sizeof(float));
    else convert_to_f32(src, dst);
  }

  void copy(const Tensor& src, Tensor& dst) override {
    SKIPDIT_CHECK(src.numel() == dst.numel() && src.dtype() == dst.dtype(), "copy to " + dst.describe());
    std::memmove(dst.raw(), src.raw(), src.nbytes());
  }

  void convert(const Tensor& src, Tensor& dst) override {
    SKIPDIT_CHECK(src.numel() == dst.numel(), "convert to " + dst.describe());
    if (dst.dtype() == DType::F32) return convert_to_f32(src, dst.f32());
    SKIPDIT_CHECK(src.dtype() == DType::F32 && dst.dtype() == DType::BF16,
                  "convert: " + src.describe() + " -> " + dst.describe() + " is not supported on the CPU");
    cpu::round_to_bf16(src.f32(), src.numel(), static_cast<uint16_t*>(dst.raw()));
  }

  // Packed panels: F32 tensor for float32 weights, BF16 tensor for bfloat16 ones (1-d, see gemm.h).
  Tensor prepare_linear(const Tensor& w) override {
    if (!w.defined()) return w;
    SKIPDIT_CHECK(w.ndim() == 2, "prepare_linear of " + w.describe());
    const int64_t N = w.dim(0), K = w.dim(1);
    if (ctx_.precision == Precision::BF16) {
      Tensor packed = Tensor::host(DType::BF16, {cpu::gemm_packed_bf16_count(N, K)});
      cpu::gemm_pack_bf16(w.f32(), N, K, static_cast<uint16_t*>(packed.raw()));
      return packed;
    }
    Tensor packed = Tensor::host(DType::F32, {cpu::gemm_packed_floats(N, K)});
    cpu::gemm_pack(w.f32(), N, K, packed.f32());
    return packed;
  }

  // Float32 panels in a model of any precision (the GEMM picks its kernel by the panel's dtype).
  Tensor prepare_linear_f32(const Tensor& w) override {
    if (!w.defined()) return w;
    SKIPDIT_CHECK(w.ndim() == 2, "prepare_linear_f32 of " + w.describe());
    Tensor packed = Tensor::host(DType::F32, {cpu::gemm_packed_floats(w.dim(0), w.dim(1))});
    cpu::gemm_pack(w.f32(), w.dim(0), w.dim(1), packed.f32());
    return packed;
  }

  // The patch embedding's im2col columns; the convolution's column tile and its output tile (the temporal
  // convolution's too, with its packed weight).
  size_t scratch_bytes(const Graph& g, const Graph::Node& node) const override {
    if (std::holds_alternative<ops::PatchEmbed>(node.op)) {
      const TensorDesc& w = g.desc(node.in[1]);
      return sizeof(float) * g.desc(node.out).numel() / w.dim(0) * w.dim(1) * w.dim(2) * w.dim(3);
    }
    if (auto* conv = std::get_if<ops::Conv2d>(&node.op))
      return sizeof(float) * cpu::conv_scratch_floats(g.desc(node.in[0]).dim(1), g.desc(node.in[1]).dim(0), conv->k);
    if (std::holds_alternative<ops::TemporalConv>(node.op)) {
      const TensorDesc& w = g.desc(node.in[1]);  // (Cout, Cin, kt, 1, 1)
      return sizeof(float) * cpu::temporal_conv_scratch_floats(w.dim(1), w.dim(0), w.dim(2));
    }
    return 0;
  }

 protected:
  void run_node(const Graph::Node& node, const KernelArgs& args) override {
    std::visit(
        [&](const auto& op) {
          if constexpr (std::is_same_v<std::decay_t<decltype(op)>, std::monostate>) SKIPDIT_CHECK(false, "empty node");
          else cpu::kernel(ctx_, op, args);
        },
        node.op);
  }

 private:
  cpu::Context ctx_;
};

}  // namespace

std::shared_ptr<Backend> make_cpu_backend(Precision precision) { return std::make_shared<CpuBackend>(precision); }

}  // namespace skipdit
