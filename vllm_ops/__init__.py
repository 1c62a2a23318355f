"""vLLM's kernels on the libtorch stable ABI: one binary for every torch >= 2.10.

`import vllm_ops` loads the compiled library shipped in this package, registers fake
implementations for torch.compile, and exposes wrappers that allocate their outputs.
"""

from ._loader import load_library

build_info = load_library()
namespace: str = build_info["namespace"]

from . import _fake  # noqa: E402  (needs the library loaded)
from .activation import (  # noqa: E402
    fatrelu_and_mul,
    gelu_and_mul,
    gelu_fast,
    gelu_new,
    gelu_quick,
    gelu_tanh_and_mul,
    mul_and_silu,
    silu_and_mul,
    silu_and_mul_with_clamp,
    swigluoai_and_mul,
)
from .awq import awq_dequantize, awq_gemm  # noqa: E402
from .fp4 import scaled_fp4_quant  # noqa: E402
from .gguf import (  # noqa: E402
    ggml_dequantize,
    ggml_moe_a8,
    ggml_moe_a8_vec,
    ggml_moe_get_block_size,
    ggml_mul_mat_a8,
    ggml_mul_mat_vec_a8,
)
from .gptq import gptq_gemm, gptq_shuffle  # noqa: E402
from .permute import permute_cols  # noqa: E402
from .quantization import scaled_fp8_quant, scaled_int8_quant  # noqa: E402
from .scaled_mm import cutlass_scaled_mm, cutlass_scaled_mm_azp  # noqa: E402

__all__ = [
    "build_info",
    "namespace",
    "fatrelu_and_mul",
    "gelu_and_mul",
    "gelu_fast",
    "gelu_new",
    "gelu_quick",
    "gelu_tanh_and_mul",
    "mul_and_silu",
    "silu_and_mul",
    "silu_and_mul_with_clamp",
    "swigluoai_and_mul",
    "ggml_dequantize",
    "ggml_moe_a8",
    "ggml_moe_a8_vec",
    "ggml_moe_get_block_size",
    "ggml_mul_mat_a8",
    "ggml_mul_mat_vec_a8",
    "gptq_gemm",
    "gptq_shuffle",
    "cutlass_scaled_mm",
    "cutlass_scaled_mm_azp",
    "awq_dequantize",
    "awq_gemm",
    "permute_cols",
    "scaled_fp4_quant",
    "scaled_fp8_quant",
    "scaled_int8_quant",
]
_fake.register_all(namespace)
