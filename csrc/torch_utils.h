#pragma once
// Checks and small helpers shared by every op. Deliberately free of CUTLASS/CuTe so that any
// translation unit, including HIP ones, can include it.

#ifdef TORCH_TARGET_VERSION
  #include <torch/headeronly/util/Exception.h>
  // Header-only check: throws std::runtime_error, which the stable dispatcher surfaces as a
  // Python RuntimeError without tying us to c10::Error's ABI.
  #define TORCH_UTILS_CHECK(cond, ...) STD_TORCH_CHECK(cond, __VA_ARGS__)
#else
  #include <c10/util/Exception.h>
  #define TORCH_UTILS_CHECK(cond, ...) TORCH_CHECK(cond, __VA_ARGS__)
#endif
