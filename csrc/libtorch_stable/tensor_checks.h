#pragma once
// Argument checks shared by all ops and backends. Every message reads
// "<op>: <argument> must be <expected>, got <actual>".

#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <initializer_list>
#include <sstream>
#include <string>

#include "../gpu_vector.h"
#include "../torch_utils.h"

namespace vllm_ops {

inline std::string shape_str(const torch::stable::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); ++i) s << (i ? ", " : "") << t.size(i);
  s << "]";
  return s.str();
}

inline std::string device_str(const torch::stable::Device& d) {
  std::ostringstream s;
  switch (d.type()) {
    case torch::headeronly::DeviceType::CPU: s << "cpu"; break;
    case torch::headeronly::DeviceType::CUDA: s << "cuda"; break;
    case torch::headeronly::DeviceType::Meta: s << "meta"; break;
    default: s << "device_type(" << static_cast<int>(d.type()) << ")";
  }
  if (d.index() >= 0) s << ":" << static_cast<int>(d.index());
  return s.str();
}

// A required tensor given as None arrives undefined; every other check would fail on it with a
// message about "ScalarType 46". The dtype and device checks call this first.
inline void check_defined(const char* op, const char* arg, const torch::stable::Tensor& t) {
  TORCH_UTILS_CHECK(t.defined(), op, ": ", arg, " must be a tensor, got None");
}

inline void check_dtype_in(const char* op, const char* arg, const torch::stable::Tensor& t,
                           std::initializer_list<torch::headeronly::ScalarType> allowed) {
  check_defined(op, arg, t);
  for (auto dt : allowed)
    if (t.scalar_type() == dt) return;
  std::ostringstream expected;
  const char* sep = "";
  for (auto dt : allowed) {
    expected << sep << torch::headeronly::toString(dt);
    sep = " or ";
  }
  TORCH_UTILS_CHECK(false, op, ": ", arg, " must have dtype ", expected.str(), ", got ",
                    torch::headeronly::toString(t.scalar_type()));
}

inline void check_same_dtype(const char* op, const char* arg, const torch::stable::Tensor& t,
                             const char* ref_arg, const torch::stable::Tensor& ref) {
  check_defined(op, arg, t);
  check_defined(op, ref_arg, ref);
  TORCH_UTILS_CHECK(t.scalar_type() == ref.scalar_type(), op, ": ", arg,
                    " must have the dtype of ", ref_arg, " (",
                    torch::headeronly::toString(ref.scalar_type()), "), got ",
                    torch::headeronly::toString(t.scalar_type()));
}

inline void check_contiguous(const char* op, const char* arg, const torch::stable::Tensor& t) {
  TORCH_UTILS_CHECK(t.is_contiguous(), op, ": ", arg,
                    " must be contiguous, got a strided tensor of shape ", shape_str(t));
}

inline void check_same_device(const char* op, const char* arg, const torch::stable::Tensor& t,
                              const char* ref_arg, const torch::stable::Tensor& ref) {
  check_defined(op, arg, t);
  check_defined(op, ref_arg, ref);
  TORCH_UTILS_CHECK(t.device() == ref.device(), op, ": ", arg, " must be on the device of ",
                    ref_arg, " (", device_str(ref.device()), "), got ", device_str(t.device()));
}

// The bytes from a tensor's first element to one past its last (torch has no negative strides).
inline int64_t byte_extent(const torch::stable::Tensor& t) {
  if (t.numel() == 0) return 0;
  int64_t last = 0;
  for (int64_t i = 0; i < t.dim(); ++i) last += (t.size(i) - 1) * t.stride(i);
  return (last + 1) * static_cast<int64_t>(t.element_size());
}

// Whether the memory two tensors span overlaps (a conservative test for strided views).
inline bool overlaps(const torch::stable::Tensor& x, const torch::stable::Tensor& y) {
  const auto* x0 = static_cast<const char*>(x.const_data_ptr());
  const auto* y0 = static_cast<const char*>(y.const_data_ptr());
  const int64_t xb = byte_extent(x), yb = byte_extent(y);
  return xb > 0 && yb > 0 && x0 < y0 + yb && y0 < x0 + xb;
}

// An output that shares memory with an input would be read after it is partly written.
inline void check_no_overlap(const char* op, const char* arg, const torch::stable::Tensor& t, const char* ref_arg,
                             const torch::stable::Tensor& ref) {
  TORCH_UTILS_CHECK(!overlaps(t, ref), op, ": ", arg, " must not share memory with ", ref_arg);
}

// Vector loads need their start aligned; `why` says which view gets this wrong.
inline void check_aligned(const char* op, const char* arg, const torch::stable::Tensor& t, int64_t bytes,
                          const std::string& why) {
  TORCH_UTILS_CHECK(is_aligned(t.const_data_ptr(), bytes), op, ": ", arg, " must start on a ", bytes,
                    "-byte boundary", why, ", got address ", reinterpret_cast<uintptr_t>(t.const_data_ptr()));
}

}  // namespace vllm_ops
