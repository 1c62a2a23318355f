#pragma once
// Naturally aligned element vectors: one wide load or store each, and the bound for 32-bit
// indexing. Shared by the GPU kernels of every family (the host side uses is_aligned to choose a
// vector width, fits_index32 to choose an index type).

#include <cstdint>

namespace vllm_ops {

template <typename T, int kBytes>
struct alignas(kBytes) Vec {
  using Elem = T;
  static constexpr int kSize = kBytes / sizeof(T);
  T v[kSize];
};

inline bool is_aligned(const void* p, int64_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Whether element offsets up to `extent` may be 32-bit: below 2^30, an offset plus one more
// grid stride or row stride still fits in an int. Kernels take 64-bit indices above.
inline bool fits_index32(int64_t extent) { return extent < (int64_t{1} << 30); }

}  // namespace vllm_ops
