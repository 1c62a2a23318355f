// CPU launcher for the GPTQ ops: the shared unpacking (gptq_pack.h) in parallel loops. Every M
// takes the dequantize path: W to a's dtype (the rounding the GPU kernels apply too), then an fp32
// GEMM, so the CPU is the accurate reference the GPU results are compared against.

#include <torch/csrc/stable/ops.h>

#include "../dispatch_utils.h"
#include "../libtorch_stable/quantization/gptq/gptq_ops_impl.h"

namespace vllm_ops {

struct CpuBackend;

namespace {

// g_idx and perm values are read on the host here, so a bad one is an error (gptq_pack.h).
void check_index_values(const gptq::WeightView& v) {
  for (int64_t r = 0; r < v.k; ++r) {
    if (v.row_group)
      TORCH_UTILS_CHECK(v.row_group[r] >= 0 && v.row_group[r] < v.groups, "gptq_gemm: b_g_idx must be in [0, ",
                        v.groups, ") (the groups of b_gptq_qzeros), got ", v.row_group[r], " at ", r);
    if (v.perm)
      TORCH_UTILS_CHECK(v.perm[r] >= 0 && v.perm[r] < v.k, "gptq_gemm: b_g_idx (the q_perm of gptq_shuffle, "
                        "use_exllama=True) must be in [0, ", v.k, "), got ", v.perm[r], " at ", r);
  }
}

// The `bits` words of pack `pack` of column `col`.
template <class PB>
void load_pack(const uint32_t* qweight, int64_t n, int64_t pack, int64_t col, uint32_t (&w)[PB::kWords]) {
  for (int j = 0; j < PB::kWords; ++j) w[j] = qweight[(pack * PB::kWords + j) * n + col];
}

}  // namespace

template <>
struct GptqLauncher<CpuBackend> {
  static void dequantize(const gptq::WeightView& v, Tensor& w) {
    check_index_values(v);
    const int64_t zero_words = v.n * v.bits / 32;
    gptq::dispatch_bits(v.bits, [&](auto bits_tag) {
      using PB = decltype(bits_tag);
      VLLM_OPS_DISPATCH_FLOATING_TYPES(w.scalar_type(), "gptq dequantize", [&] {
        const auto* scales = static_cast<const scalar_t*>(v.scales);
        auto* out = static_cast<scalar_t*>(w.mutable_data_ptr());
        torch::stable::parallel_for(0, v.k / gptq::kPackValues, 1, [&](int64_t begin, int64_t end) {
          for (int64_t pack = begin; pack < end; ++pack) {
            for (int64_t col = 0; col < v.n; ++col) {
              uint32_t words[PB::kWords], q[gptq::kPackValues];
              load_pack<PB>(v.qweight, v.n, pack, col, words);
              PB::unpack(words, q);
              for (int i = 0; i < gptq::kPackValues; ++i) {
                const int64_t row = pack * gptq::kPackValues + i, g = v.group_of(row);
                const int zero = gptq::zero_point(PB::get_along_row(v.qzeros + g * zero_words, col), v.v2_zeros);
                const float scale = static_cast<float>(scales[g * v.n + col]);
                out[v.source_of(row) * v.n + col] = static_cast<scalar_t>(gptq::dequant(q[i], zero, scale));
              }
            }
          }
        });
      });
    });
  }

  static Tensor dense_gemm(const Tensor& a, const Tensor& w) {
    using torch::headeronly::ScalarType;
    const Tensor product =
        torch::stable::matmul(torch::stable::to(a, ScalarType::Float), torch::stable::to(w, ScalarType::Float));
    return torch::stable::to(product, a.scalar_type());
  }

  // No separate fused kernel on the CPU: the dequantize path above serves every M.
  static int64_t dequant_gemm_min_rows(const gptq::WeightView&) { return 0; }
  static void fused_gemm(const Tensor& a, const gptq::WeightView& v, Tensor& out) {
    Tensor w = torch::stable::new_empty(a, {v.k, v.n});
    dequantize(v, w);
    torch::stable::copy_(out, dense_gemm(a, w));
  }

  static void permute_rows(const Tensor& src, const Tensor& perm, Tensor& q_weight, int bits) {
    const auto* s = static_cast<const uint32_t*>(src.const_data_ptr());
    const auto* p = static_cast<const int32_t*>(perm.const_data_ptr());
    auto* dst = static_cast<uint32_t*>(q_weight.mutable_data_ptr());
    const int64_t n = q_weight.size(1), packs = q_weight.size(0) / bits;
    gptq::dispatch_bits(bits, [&](auto bits_tag) {
      using PB = decltype(bits_tag);
      torch::stable::parallel_for(0, packs, 1, [&](int64_t begin, int64_t end) {
        for (int64_t pack = begin; pack < end; ++pack) {
          for (int64_t col = 0; col < n; ++col) {
            uint32_t q[gptq::kPackValues], words[PB::kWords];
            for (int i = 0; i < gptq::kPackValues; ++i) {
              const int64_t from = p[pack * gptq::kPackValues + i];
              load_pack<PB>(s, n, from / gptq::kPackValues, col, words);
              q[i] = PB::get(words, static_cast<int>(from % gptq::kPackValues));
            }
            PB::pack(q, words);
            for (int j = 0; j < PB::kWords; ++j) dst[(pack * PB::kWords + j) * n + col] = words[j];
          }
        }
      });
    });
  }
};

template struct GptqOps<CpuBackend>;

}  // namespace vllm_ops
