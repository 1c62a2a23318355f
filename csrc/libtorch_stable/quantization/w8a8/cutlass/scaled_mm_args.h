#pragma once
// What the cutlass_scaled_mm entry (scaled_mm_entry.cu) hands its kernels, free of CUTLASS types
// so that only the kernels' translation units include CUTLASS.

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace vllm_ops {

// The tile shapes of scaled_mm_sm90.cuh (M x N of the MMA): 64 x 16 and 64 x 64 with the
// operands swapped (weights x tokens), 64 x 128 and 128 x 128.
enum class TileChoice { kFewTokens, kSomeTokens, kMedium, kLarge };

struct ScaledMmArgs {
  const char* op;              // for error messages
  const void* a;               // [M, K], row stride lda (elements)
  const void* b;               // [K, N] column-major, column stride ldb
  void* out;                   // [M, N], row stride ldd
  const float* a_scales;       // [M] or [1]
  const float* b_scales;       // [N] or [1]
  const void* bias;            // [N] in out's dtype, or null
  const int32_t* azp_adj;      // [N] (cutlass_scaled_mm_azp only)
  const int32_t* azp;          // [M] per-token zero points, or null for per-tensor
  int64_t m, n, k, lda, ldb, ldd;
  bool a_scales_per_row, b_scales_per_column, out_bf16;
  TileChoice tiles;
  int device, sm_count;
  cudaStream_t stream;
};

// Allocates CUTLASS's workspace (through torch's allocator, on the op's stream).
using WorkspaceFn = std::function<void*(size_t)>;

// Up to 16 tokens, then up to 128, the swapped shapes whose token side fits them (no MMA rows
// spent on absent tokens). Beyond, 128 x 128 once those tiles reach one per SM, else 64 x 128
// (pingpong runs two of them per SM at a time).
inline TileChoice choose_tiles(int64_t m, int64_t n, int sm_count) {
  if (m <= 16) return TileChoice::kFewTokens;
  if (m <= 128) return TileChoice::kSomeTokens;
  const int64_t large_tiles = ((m + 127) / 128) * ((n + 127) / 128);
  return large_tiles >= sm_count ? TileChoice::kLarge : TileChoice::kMedium;
}

// sm_90a kernels, one translation unit each.
void scaled_mm_sm90_fp8(const ScaledMmArgs& p, const WorkspaceFn& workspace);
void scaled_mm_sm90_int8(const ScaledMmArgs& p, const WorkspaceFn& workspace);
void scaled_mm_azp_sm90_int8(const ScaledMmArgs& p, const WorkspaceFn& workspace);

}  // namespace vllm_ops
