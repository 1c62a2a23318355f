#pragma once
// The GGUF ops: argument checks, output allocation and the choice of path, shared by every
// backend. A backend's translation unit includes this, specializes GgufLauncher and
// instantiates GgufOps. The decoders are in types/, the matmul arithmetic in gguf_dot.h.
//
// Paths. ggml_mul_mat_vec_a8 quantizes X to 8-bit blocks and takes integer dot products against
// the decoded weights (groups of up to kMaxTile tokens share each weight read).
// ggml_mul_mat_a8 and both MoE ops do the same for few tokens; from the token count the
// backend names (GgufLauncher::fused_min_tokens, measured) they take the backend's fused kernel
// where it has one (fp16/bf16 X on CUDA: weights decoded to X's dtype, tensor-core products), and
// ggml_mul_mat_a8 dequantizes W and calls torch's matmul for many tokens
// (GgufLauncher::dequant_gemm_min_tokens).

#include <torch/csrc/stable/ops.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "../../ops.h"
#include "../../tensor_checks.h"
#include "gguf_dot.h"
#include "gguf_types.h"

namespace vllm_ops {


// Each backend provides:
//   static void dequantize(const Tensor& W, int64_t type, Tensor& out);  // out: [m, n], float/half/bf16
//   static void quantize_activations(const Tensor& X, Tensor& codes, Tensor& scales);
//       // X [rows, K] -> codes int8 [rows, K], scales fp32 [rows, K / 32] (gguf_dot.h)
//   static void dot(const Tensor& W, int64_t type, const Tensor& codes, const Tensor& scales,
//                   const gguf::TokenMap&, Tensor& out);  // W [experts, N, bytes]; out [*, N]
//   static int64_t dequant_gemm_min_tokens(int64_t type, int64_t n, int64_t k, const Tensor& X);
//   static bool fused_matmul(const Tensor& W, int64_t type, const Tensor& X, const gguf::TokenMap&,
//                            int64_t groups_in_use, Tensor& out);
//       // X @ dequant(W)^T for the map's groups (kDense or kSorted with tile kFusedGroup, or
//       // kTopk, which the backend sorts into blocks itself) in X's dtype without 8-bit
//       // activations; false when the backend has no such kernel for X
//   static int64_t fused_min_tokens(const Tensor& X);  // dense tokens from which fused_matmul pays
template <class Backend>
struct GgufLauncher;

namespace gguf_checks {

using torch::headeronly::ScalarType;

inline gguf::TypeInfo known_type(const char* op, int64_t type, bool quant_only) {
  const gguf::TypeInfo info = gguf::type_info(type);
  TORCH_UTILS_CHECK(info.name != nullptr, op, ": type must be a supported GGML type id, got ", type);
  TORCH_UTILS_CHECK(!quant_only || info.kind == gguf::TypeKind::kQuant, op,
                    ": type must be a quantized GGML type, got ", info.name, " (", type, ")");
  return info;
}

// W: contiguous uint8 bytes, starting where the block loads may start (gguf_blocks.h).
inline void check_weight_bytes(const char* op, const Tensor& W, const gguf::TypeInfo& info) {
  check_dtype_in(op, "W", W, {ScalarType::Byte});
  check_contiguous(op, "W", W);
  const int64_t align = std::min<int64_t>(4, info.block_bytes & -info.block_bytes);
  check_aligned(op, "W", W, align, std::string(" for ") + info.name + " blocks (a view at an odd byte offset is not)");
}

// Bytes of one weight row of k elements.
inline int64_t row_bytes(const char* op, const char* k_name, int64_t k, const gguf::TypeInfo& info) {
  TORCH_UTILS_CHECK(k % info.block_elems == 0, op, ": ", k_name, " must be a multiple of ",
                    info.block_elems, " (the block size of ", info.name, "), got ", k);
  return k / info.block_elems * info.block_bytes;
}

inline void check_activations(const char* op, const Tensor& X, const Tensor& W) {
  check_dtype_in(op, "X", X, {ScalarType::Float, ScalarType::Half, ScalarType::BFloat16});
  check_same_device(op, "X", X, "W", W);
  TORCH_UTILS_CHECK(X.dim() == 2, op, ": X must be 2-D [tokens, K], got shape ", shape_str(X));
  check_contiguous(op, "X", X);
}

// W [row, K bytes] (or [experts, row, K bytes]) for X [*, K].
inline void check_weight_shape(const char* op, const Tensor& W, int64_t dims, int64_t row,
                               const Tensor& X, const gguf::TypeInfo& info) {
  TORCH_UTILS_CHECK(W.dim() == dims, op, ": W must be ", dims == 2 ? "2-D [row, bytes]" : "3-D [experts, row, bytes]",
                    ", got shape ", shape_str(W));
  TORCH_UTILS_CHECK(W.size(dims - 2) == row, op, ": row must equal W.size(", dims - 2, ") = ",
                    W.size(dims - 2), ", got ", row);
  const int64_t bytes = row_bytes(op, "X.size(1)", X.size(1), info);
  TORCH_UTILS_CHECK(W.size(dims - 1) == bytes, op, ": W.size(", dims - 1, ") must be ", bytes, " bytes (",
                    X.size(1), " ", info.name, " elements, X.size(1)), got ", W.size(dims - 1));
}

// Everything a matmul-type op checks of (W, X, type, row): W of `dims` dimensions.
inline void check_matmul_args(const char* op, const Tensor& W, const Tensor& X, int64_t type, int64_t row,
                              int64_t dims) {
  const gguf::TypeInfo info = known_type(op, type, true);
  check_weight_bytes(op, W, info);
  check_activations(op, X, W);
  check_weight_shape(op, W, dims, row, X, info);
}

inline void check_moe_sizes(const char* op, const Tensor& X, int64_t top_k, int64_t tokens) {
  TORCH_UTILS_CHECK(top_k >= 1, op, ": top_k must be >= 1, got ", top_k);
  TORCH_UTILS_CHECK(tokens == X.size(0), op, ": tokens must equal X.size(0) = ", X.size(0), ", got ", tokens);
}

inline void check_routing(const char* op, const char* arg, const Tensor& t, const Tensor& X) {
  check_dtype_in(op, arg, t, {ScalarType::Int});
  check_same_device(op, arg, t, "X", X);
  check_contiguous(op, arg, t);
}

}  // namespace gguf_checks

// Quantizes X and runs the integer-dot kernel for `map` into a new [rows, N] output.
template <class Backend>
Tensor gguf_dot_path(const Tensor& W, const Tensor& X, int64_t type, int64_t n, int64_t out_rows,
                     gguf::TokenMap map, bool zero_fill) {
  using torch::headeronly::ScalarType;
  const int64_t k = X.size(1);
  Tensor out = zero_fill ? torch::stable::new_zeros(X, {out_rows, n}) : torch::stable::new_empty(X, {out_rows, n});
  if (out_rows == 0 || n == 0 || map.groups == 0) return out;
  if (k == 0) return torch::stable::zero_(out);
  Tensor codes = torch::stable::new_empty(X, {X.size(0), k}, ScalarType::Char);
  Tensor scales = torch::stable::new_empty(X, {X.size(0), k / gguf::kQ8Block}, ScalarType::Float);
  GgufLauncher<Backend>::quantize_activations(X, codes, scales);
  const Tensor W3 = W.dim() == 3 ? W : torch::stable::view(W, {1, W.size(0), W.size(1)});
  GgufLauncher<Backend>::dot(W3, type, codes, scales, map, out);
  return out;
}

inline gguf::TokenMap dense_map(int64_t tokens) {
  gguf::TokenMap map;
  map.tokens = tokens;
  while (map.tile < tokens && map.tile < gguf::kMaxTile) map.tile *= 2;  // 1, 2, 4 or kMaxTile
  map.groups = (tokens + map.tile - 1) / map.tile;
  return map;
}

template <class B>
Tensor GgufOps<B>::ggml_dequantize(const Tensor& W, int64_t type, int64_t m, int64_t n,
                                   std::optional<torch::headeronly::ScalarType> dtype) {
  using torch::headeronly::ScalarType;
  constexpr const char* op = "ggml_dequantize";
  const gguf::TypeInfo info = gguf_checks::known_type(op, type, false);
  gguf_checks::check_weight_bytes(op, W, info);
  TORCH_UTILS_CHECK(m >= 0 && n >= 0, op, ": m and n must be >= 0, got m=", m, ", n=", n);
  const int64_t bytes = gguf_checks::row_bytes(op, "n", n, info);
  TORCH_UTILS_CHECK(W.numel() == m * bytes, op, ": W must hold m * ", bytes, " = ", m * bytes,
                    " bytes for m=", m, " rows of n=", n, " ", info.name, " elements, got ", W.numel());
  const ScalarType out_dtype = dtype.value_or(ScalarType::Half);
  TORCH_UTILS_CHECK(out_dtype == ScalarType::Float || out_dtype == ScalarType::Half ||
                        out_dtype == ScalarType::BFloat16,
                    op, ": dtype must be Float, Half or BFloat16, got ", torch::headeronly::toString(out_dtype));
  Tensor out = torch::stable::new_empty(W, {m, n}, out_dtype);
  if (m > 0 && n > 0) GgufLauncher<B>::dequantize(W, type, out);
  return out;
}

template <class B>
Tensor GgufOps<B>::ggml_mul_mat_vec_a8(const Tensor& W, const Tensor& X, int64_t type, int64_t row) {
  constexpr const char* op = "ggml_mul_mat_vec_a8";
  gguf_checks::check_matmul_args(op, W, X, type, row, 2);
  return gguf_dot_path<B>(W, X, type, row, X.size(0), dense_map(X.size(0)), false);
}

template <class B>
Tensor GgufOps<B>::ggml_mul_mat_a8(const Tensor& W, const Tensor& X, int64_t type, int64_t row) {
  constexpr const char* op = "ggml_mul_mat_a8";
  gguf_checks::check_matmul_args(op, W, X, type, row, 2);
  const int64_t tokens = X.size(0), k = X.size(1);
  if (row > 0 && k > 0 && tokens > 0) {
    if (tokens >= GgufLauncher<B>::dequant_gemm_min_tokens(type, row, k, X)) {
      // Many tokens: the weights dequantized once in X's dtype, then a dense GEMM.
      Tensor w = torch::stable::new_empty(X, {row, k});
      GgufLauncher<B>::dequantize(W, type, w);
      return torch::stable::matmul(X, torch::stable::transpose(w, 0, 1));
    }
    if (tokens >= GgufLauncher<B>::fused_min_tokens(X)) {
      gguf::TokenMap map;
      map.tokens = tokens;
      map.tile = gguf::kFusedGroup;
      map.groups = (tokens + gguf::kFusedGroup - 1) / gguf::kFusedGroup;
      Tensor out = torch::stable::new_empty(X, {tokens, row});
      if (GgufLauncher<B>::fused_matmul(torch::stable::view(W, {1, W.size(0), W.size(1)}), type, X, map,
                                        map.groups, out))
        return out;
    }
  }
  return gguf_dot_path<B>(W, X, type, row, tokens, dense_map(tokens), false);
}

template <class B>
Tensor GgufOps<B>::ggml_moe_a8(const Tensor& X, const Tensor& W, const Tensor& sorted_token_ids,
                               const Tensor& expert_ids, const Tensor& num_tokens_post_padded,
                               int64_t type, int64_t row, int64_t top_k, int64_t tokens) {
  constexpr const char* op = "ggml_moe_a8";
  gguf_checks::check_matmul_args(op, W, X, type, row, 3);
  gguf_checks::check_moe_sizes(op, X, top_k, tokens);
  gguf_checks::check_routing(op, "sorted_token_ids", sorted_token_ids, X);
  gguf_checks::check_routing(op, "expert_ids", expert_ids, X);
  gguf_checks::check_routing(op, "num_tokens_post_padded", num_tokens_post_padded, X);
  TORCH_UTILS_CHECK(num_tokens_post_padded.numel() == 1, op,
                    ": num_tokens_post_padded must hold one value, got shape ", shape_str(num_tokens_post_padded));
  TORCH_UTILS_CHECK(expert_ids.numel() * gguf::kMoeBlock >= sorted_token_ids.numel(), op,
                    ": expert_ids must have one entry per block of ", gguf::kMoeBlock,
                    " sorted_token_ids (ggml_moe_get_block_size), i.e. at least ",
                    (sorted_token_ids.numel() + gguf::kMoeBlock - 1) / gguf::kMoeBlock, ", got ", expert_ids.numel());
  gguf::TokenMap map;
  map.mode = gguf::TokenMap::kSorted;
  map.tokens = tokens;
  map.top_k = top_k;
  map.routed = tokens * top_k;
  map.experts = W.size(0);
  map.sorted_len = sorted_token_ids.numel();
  map.block = gguf::kMoeBlock;
  map.sorted_ids = static_cast<const int32_t*>(sorted_token_ids.const_data_ptr());
  map.expert_ids = static_cast<const int32_t*>(expert_ids.const_data_ptr());
  map.num_post_padded = static_cast<const int32_t*>(num_tokens_post_padded.const_data_ptr());
  if (map.routed >= GgufLauncher<B>::fused_min_tokens(X) && row > 0 && X.size(1) > 0) {
    // One group per sorted block; at most routed / block full blocks plus one partial block per
    // expert hold entries (the host cannot read num_tokens_post_padded without a sync).
    map.tile = gguf::kMoeBlock;
    map.groups = (map.sorted_len + gguf::kMoeBlock - 1) / gguf::kMoeBlock;
    const int64_t in_use = std::min<int64_t>(map.groups, map.routed / gguf::kMoeBlock + map.experts);
    Tensor out = torch::stable::new_zeros(X, {map.routed, row});  // rows no sorted entry names stay defined
    if (GgufLauncher<B>::fused_matmul(W, type, X, map, in_use, out)) return out;
  }
  map.tile = gguf::kMaxTile;
  map.groups = (map.sorted_len + gguf::kMaxTile - 1) / gguf::kMaxTile;
  // Zero-filled: rows no sorted entry names stay defined.
  return gguf_dot_path<B>(W, X, type, row, map.routed, map, true);
}

template <class B>
Tensor GgufOps<B>::ggml_moe_a8_vec(const Tensor& X, const Tensor& W, const Tensor& topk_ids, int64_t top_k,
                                   int64_t type, int64_t row, int64_t tokens) {
  constexpr const char* op = "ggml_moe_a8_vec";
  gguf_checks::check_matmul_args(op, W, X, type, row, 3);
  gguf_checks::check_moe_sizes(op, X, top_k, tokens);
  gguf_checks::check_routing(op, "topk_ids", topk_ids, X);
  TORCH_UTILS_CHECK(topk_ids.numel() == tokens * top_k, op, ": topk_ids must hold tokens * top_k = ",
                    tokens * top_k, " expert ids, got shape ", shape_str(topk_ids));
  gguf::TokenMap map;
  map.mode = gguf::TokenMap::kTopk;
  map.tokens = tokens;
  map.tile = 1;
  map.top_k = top_k;
  map.routed = tokens * top_k;
  map.experts = W.size(0);
  map.groups = map.routed;
  map.topk_ids = static_cast<const int32_t*>(topk_ids.const_data_ptr());
  if (map.routed >= GgufLauncher<B>::fused_min_tokens(X) && row > 0 && X.size(1) > 0) {
    // The backend sorts the entries by expert itself, then runs its fused kernel over the blocks.
    Tensor out = torch::stable::new_zeros(X, {map.routed, row});  // rows of out-of-range ids stay zero
    if (GgufLauncher<B>::fused_matmul(W, type, X, map, 0, out)) return out;
  }
  return gguf_dot_path<B>(W, X, type, row, map.routed, map, true);
}

}  // namespace vllm_ops
