// Host check of csrc/libtorch_stable/quantization/fp4/nvfp4_math.h, the math the CUDA
// scaled_fp4_quant kernel runs: tests/test_nvfp4.py compiles this with the host compiler and
// compares its bytes with the pure-torch reference, so the math is tested on machines without a
// GPU. Input on stdin: the global scale and then 16 floats per block (float32, native order).
// Output on stdout: per block its scale byte, then its eight code bytes. With the argument
// `codes`: input is any number of floats, output one e2m1 code byte per float
// (finite ones through e2m1_code_finite, the form the blocks use when all 16 are finite).

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "libtorch_stable/quantization/fp4/nvfp4_math.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "codes") {
    std::vector<unsigned char> codes;
    float v;
    // Finite values through the fast form the blocks use, the others through e2m1_code.
    while (std::fread(&v, sizeof v, 1, stdin) == 1)
      codes.push_back(static_cast<unsigned char>(std::isfinite(v) ? vllm_ops::fp4::e2m1_code_finite(v)
                                                                 : vllm_ops::fp4::e2m1_code(v)));
    return std::fwrite(codes.data(), 1, codes.size(), stdout) == codes.size() ? 0 : 3;
  }
  float global_scale;
  if (std::fread(&global_scale, sizeof global_scale, 1, stdin) != 1) return 2;
  std::vector<unsigned char> out;
  float x[vllm_ops::fp4::kBlock];
  while (std::fread(x, sizeof x, 1, stdin) == 1) {
    uint8_t scale_bits;
    uint32_t packed[2];
    vllm_ops::fp4::quantize_block(x, global_scale, scale_bits, packed);
    out.push_back(scale_bits);
    for (uint32_t word : packed)
      for (int b = 0; b < 4; ++b) out.push_back(static_cast<unsigned char>(word >> (8 * b)));
  }
  return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() ? 0 : 3;
}
