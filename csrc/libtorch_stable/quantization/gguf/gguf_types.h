#pragma once
// The type table (gguf_types.def) as C++: every traits struct checked against its line, a
// runtime lookup of a type's sizes by id, and the one dispatch every op on every backend uses.

#include <cstdint>

#include "../../../torch_utils.h"
#include "types/floats.h"
#include "types/iquants.h"
#include "types/kquants.h"
#include "types/legacy.h"

namespace vllm_ops::gguf {

#define VLLM_OPS_GGUF_TYPE(name, id, kind, elems, bytes)                                       \
  static_assert(types::name::kKind == TypeKind::kind, #name ": kind differs from gguf_types.def"); \
  static_assert(types::name::kBlockBytes == (bytes), #name ": layout does not fill its block");   \
  static_assert(types::name::kBlockElems == (elems), #name ": block elements differ from gguf_types.def"); \
  static_assert(TypeKind::kind == TypeKind::kFloat || (elems) % kChunk == 0, #name ": not whole chunks");
#include "gguf_types.def"
#undef VLLM_OPS_GGUF_TYPE

struct TypeInfo {
  const char* name;  // nullptr: not a type we know
  TypeKind kind;
  int block_elems, block_bytes;
};

inline TypeInfo type_info(int64_t id) {
  switch (id) {
#define VLLM_OPS_GGUF_TYPE(name, id_, kind, elems, bytes) \
  case id_: return {#name, TypeKind::kind, elems, bytes};
#include "gguf_types.def"
#undef VLLM_OPS_GGUF_TYPE
    default: return {nullptr, TypeKind::kFloat, 0, 0};
  }
}

// The one switch over type ids: calls f(types::<name>{}) for the type `id`, restricted to
// quantized types when kQuantOnly. Any other id is a clear error naming it.
template <bool kQuantOnly, class F>
void dispatch_type(const char* op, int64_t id, F&& f) {
  switch (id) {
#define VLLM_OPS_GGUF_TYPE(name, id_, kind, elems, bytes)                                        \
  case id_:                                                                                      \
    if constexpr (!kQuantOnly || TypeKind::kind == TypeKind::kQuant) {                           \
      f(types::name{});                                                                          \
      return;                                                                                    \
    } else {                                                                                     \
      TORCH_UTILS_CHECK(false, op, ": type must be a quantized GGML type, got ", #name, " (", id, \
                        "); plain float weights need no GGUF kernel");                           \
    }                                                                                            \
    break;
#include "gguf_types.def"
#undef VLLM_OPS_GGUF_TYPE
    default:
      TORCH_UTILS_CHECK(false, op, ": type must be a supported GGML type id, got ", id);
  }
}

}  // namespace vllm_ops::gguf
