// CPU launcher for the GGUF ops: the shared decoders and dot arithmetic in parallel loops, plus
// ggml_moe_get_block_size (backend-independent, compiled into every target once).

#include <torch/csrc/stable/ops.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "../dispatch_utils.h"
#include "../libtorch_stable/quantization/gguf/gguf_ops_impl.h"

namespace vllm_ops {

struct CpuBackend;

namespace {

using gguf::Chunk;
using gguf::kChunk;

// Routing values are read on the host here, so a bad one is an error rather than a skipped row.
void check_routing_values(const gguf::TokenMap& map) {
  const char* op = map.mode == gguf::TokenMap::kSorted ? "ggml_moe_a8" : "ggml_moe_a8_vec";
  if (map.mode == gguf::TokenMap::kSorted) {
    const int64_t padded = *map.num_post_padded;
    TORCH_UTILS_CHECK(padded >= 0 && padded <= map.sorted_len, op,
                      ": num_tokens_post_padded must be in [0, sorted_token_ids.numel() = ", map.sorted_len,
                      "], got ", padded);
    for (int64_t i = 0; i < padded; ++i)
      TORCH_UTILS_CHECK(map.sorted_ids[i] >= 0, op, ": sorted_token_ids must be >= 0, got ",
                        map.sorted_ids[i], " at ", i);
    for (int64_t b = 0; b * map.block < padded; ++b)
      TORCH_UTILS_CHECK(map.expert_ids[b] >= 0 && map.expert_ids[b] < map.experts, op,
                        ": expert_ids must be in [0, ", map.experts, "), got ", map.expert_ids[b], " at ", b);
  } else if (map.mode == gguf::TokenMap::kTopk) {
    for (int64_t i = 0; i < map.routed; ++i)
      TORCH_UTILS_CHECK(map.topk_ids[i] >= 0 && map.topk_ids[i] < map.experts, op, ": topk_ids must be in [0, ",
                        map.experts, "), got ", map.topk_ids[i], " at ", i);
  }
}

template <typename T>
void store(T* out, float v) {
  *out = static_cast<T>(v);
}

}  // namespace

template <>
struct GgufLauncher<CpuBackend> {
  static void dequantize(const Tensor& W, int64_t type, Tensor& out) {
    const auto* w = static_cast<const uint8_t*>(W.const_data_ptr());
    const int64_t m = out.size(0), n = out.size(1);
    gguf::dispatch_type<false>("ggml_dequantize", type, [&](auto traits) {
      using Traits = decltype(traits);
      VLLM_OPS_DISPATCH_FLOATING_TYPES(out.scalar_type(), "ggml_dequantize", [&] {
        auto* o = static_cast<scalar_t*>(out.mutable_data_ptr());
        const int64_t blocks = m * n / Traits::kBlockElems;
        torch::stable::parallel_for(0, blocks, 4096 / Traits::kBlockElems + 1, [&](int64_t begin, int64_t end) {
          for (int64_t b = begin; b < end; ++b) {
            const uint8_t* blk = w + b * Traits::kBlockBytes;
            scalar_t* dst = o + b * Traits::kBlockElems;
            if constexpr (Traits::kKind == gguf::TypeKind::kFloat) {
              store(dst, Traits::decode1(blk));
            } else {
              for (int c = 0; c < Traits::kBlockElems / kChunk; ++c) {
                Chunk ch;
                Traits::decode(blk, c, ch);
                for (int k = 0; k < kChunk; ++k) store(dst + c * kChunk + k, gguf::chunk_element<Traits>(ch, k));
              }
            }
          }
        });
      });
    });
  }

  static void quantize_activations(const Tensor& X, Tensor& codes, Tensor& scales) {
    const int64_t rows = X.size(0), k = X.size(1), runs = k / gguf::kQ8Block;
    auto* q = static_cast<int8_t*>(codes.mutable_data_ptr());
    auto* s = static_cast<float*>(scales.mutable_data_ptr());
    VLLM_OPS_DISPATCH_FLOATING_TYPES(X.scalar_type(), "ggml quantize activations", [&] {
      const auto* x = static_cast<const scalar_t*>(X.const_data_ptr());
      torch::stable::parallel_for(0, rows * runs, 256, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const scalar_t* src = x + r * gguf::kQ8Block;
          float amax = 0.f;
          for (int i = 0; i < gguf::kQ8Block; ++i) amax = std::max(amax, std::fabs(static_cast<float>(src[i])));
          const float scale = gguf::q8_scale(amax);
          s[r] = scale;
          for (int i = 0; i < gguf::kQ8Block; ++i)
            q[r * gguf::kQ8Block + i] = static_cast<int8_t>(gguf::q8_code(static_cast<float>(src[i]), scale));
        }
      });
    });
  }

  static void dot(const Tensor& W, int64_t type, const Tensor& codes, const Tensor& scales,
                  const gguf::TokenMap& map, Tensor& out) {
    check_routing_values(map);
    const auto* w = static_cast<const uint8_t*>(W.const_data_ptr());
    const auto* q = static_cast<const int8_t*>(codes.const_data_ptr());
    const auto* s = static_cast<const float*>(scales.const_data_ptr());
    const int64_t n = W.size(1), row_bytes = W.size(2), k = codes.size(1);
    gguf::dispatch_type<true>("ggml matmul", type, [&](auto traits) {
      using Traits = decltype(traits);
      VLLM_OPS_DISPATCH_FLOATING_TYPES(out.scalar_type(), "ggml matmul", [&] {
        auto* o = static_cast<scalar_t*>(out.mutable_data_ptr());
        const int64_t chunks = k / kChunk;
        torch::stable::parallel_for(0, map.groups * n, 16, [&](int64_t begin, int64_t end) {
          for (int64_t item = begin; item < end; ++item) {
            const int64_t g = item / n, row = item % n;
            const gguf::GroupEntries e = gguf::resolve_group(map, g);
            if (e.count == 0) continue;
            const uint8_t* wrow = w + (e.expert * n + row) * row_bytes;
            float acc[gguf::kMaxTile] = {};
            for (int64_t c = 0; c < chunks; ++c) {
              Chunk ch;
              const int64_t elem = c * kChunk;
              Traits::decode(wrow + elem / Traits::kBlockElems * Traits::kBlockBytes,
                             static_cast<int>((elem % Traits::kBlockElems) / kChunk), ch);
              for (int t = 0; t < e.count; ++t) {
                uint32_t xw[4];
                std::memcpy(xw, q + e.x_row[t] * k + elem, sizeof xw);
                acc[t] += s[e.x_row[t] * (k / gguf::kQ8Block) + elem / gguf::kQ8Block] *
                          gguf::chunk_dot<Traits>(ch, xw);
              }
            }
            for (int t = 0; t < e.count; ++t) store(o + e.out_row[t] * n + row, acc[t]);
          }
        });
      });
    });
  }

  // The dequantize-then-GEMM path (oneDNN/MKL matmul) wins on CPU as soon as the weights serve
  // more tokens than one integer-dot tile.
  static int64_t dequant_gemm_min_tokens(int64_t, int64_t, int64_t, const Tensor&) { return gguf::kMaxTile + 1; }

  // No fused tensor-core kernel on the CPU: every token count takes the paths above.
  static bool fused_matmul(const Tensor&, int64_t, const Tensor&, const gguf::TokenMap&, int64_t, Tensor&) {
    return false;
  }
  static int64_t fused_min_tokens(const Tensor&) { return std::numeric_limits<int64_t>::max(); }
};

template struct GgufOps<CpuBackend>;

int64_t ggml_moe_get_block_size(int64_t type) {
  gguf_checks::known_type("ggml_moe_get_block_size", type, true);
  return gguf::kMoeBlock;
}

Tensor ggml_dequantize_without_kernel(const Tensor& W, int64_t, int64_t, int64_t,
                                      std::optional<torch::headeronly::ScalarType>) {
  check_defined("ggml_dequantize", "W", W);
  TORCH_UTILS_CHECK(false, "ggml_dequantize: this build has no kernel for W's device (", device_str(W.device()), ")");
  return W;
}

}  // namespace vllm_ops
