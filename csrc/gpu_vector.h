#pragma once
// Naturally aligned element vectors: one wide load or store each. Shared by the GPU kernels of
// every family (the host side uses is_aligned to choose a vector width).

#include <cstdint>

namespace vllm_ops {

template <typename T, int kBytes>
struct alignas(kBytes) Vec {
  using Elem = T;
  static constexpr int kSize = kBytes / sizeof(T);
  T v[kSize];
};

inline bool is_aligned(const void* p, int64_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace vllm_ops
