// A probe of candidate tile configurations for cutlass_scaled_mm at few tokens (session 15):
// one executable, no torch at run time, each configuration timed over operands rotated beyond
// the L2, as CUDA graphs of 40 calls. Build here, run on the H200:
//   nvcc -std=c++17 -O3 -DNDEBUG -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr \
//     -I<torch include> -I<cutlass include> scripts/scaled_mm_tile_probe.cu -o probe && ./probe
#include <algorithm>
#include <cstdio>
#include <vector>

#include "../csrc/libtorch_stable/quantization/w8a8/cutlass/scaled_mm_sm90.cuh"

using namespace vllm_ops;
using namespace vllm_ops::scaled_mm_sm90;
namespace gemm = cutlass::gemm;
namespace epi = cutlass::epilogue;

template <class AB>
using Pingpong64x32 = TileConfig<64, 32, 128, 1, 1, PingpongSchedule<AB>, epi::TmaWarpSpecialized>;
template <class AB>
using Pingpong64x128 = TileConfig<64, 128, 128, 1, 1, PingpongSchedule<AB>, epi::TmaWarpSpecialized>;
template <class AB>
using Basic64x64c4 = TileConfig<64, 64, 128, 1, 4, BasicSchedule<AB>, epi::TmaWarpSpecialized, void>;
template <class AB>
using Basic64x16x256 = TileConfig<64, 16, 256, 1, 1, BasicSchedule<AB>, epi::TmaWarpSpecialized, void>;
// With swap AB: weights x tokens tiles.
template <class AB>
using Pingpong64x16x256 = TileConfig<64, 16, 256, 1, 1, PingpongSchedule<AB>, epi::TmaWarpSpecialized>;
template <class AB>
using Basic64x32x256 = TileConfig<64, 32, 256, 1, 1, BasicSchedule<AB>, epi::TmaWarpSpecialized, void>;
template <class AB>
using Pingpong64x64 = TileConfig<64, 64, 128, 1, 1, PingpongSchedule<AB>, epi::TmaWarpSpecialized>;

#define CHECK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)

static void* g_workspace;
static cudaStream_t g_stream;

template <class AB, template <class> class Cfg, bool kSwap>
void probe(const char* name, const char* dtype, int64_t m, int64_t n, int64_t k) {
  using Mm = ScaledMm<AB, cutlass::bfloat16_t, Cfg<AB>, false, kSwap>;
  const int64_t set_bytes = m * k + n * k + m * n * 2;
  const int sets = int(std::min<int64_t>(16, std::max<int64_t>(1, (180ll << 20) / set_bytes + 1)));
  std::vector<ScaledMmArgs> args(sets);
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  for (auto& p : args) {
    void *a, *b, *out;
    float *sa, *sb;
    CHECK(cudaMalloc(&a, m * k)); CHECK(cudaMalloc(&b, n * k)); CHECK(cudaMalloc(&out, m * n * 2));
    CHECK(cudaMalloc(&sa, m * 4)); CHECK(cudaMalloc(&sb, n * 4));
    CHECK(cudaMemset(a, 0x11, m * k)); CHECK(cudaMemset(b, 0x22, n * k));
    CHECK(cudaMemset(sa, 0, m * 4)); CHECK(cudaMemset(sb, 0, n * 4));
    p = ScaledMmArgs{};
    p.op = name; p.a = a; p.b = b; p.out = out; p.a_scales = sa; p.b_scales = sb;
    p.m = m, p.n = n, p.k = k, p.lda = k, p.ldb = k, p.ldd = n;
    p.a_scales_per_row = true, p.b_scales_per_column = true, p.out_bf16 = true;
    p.device = 0, p.sm_count = sms, p.stream = g_stream;
  }
  WorkspaceFn ws = [](size_t) { return g_workspace; };
  for (auto& p : args) run<Mm>(p, ws);
  CHECK(cudaStreamSynchronize(g_stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  const int calls = 40;
  CHECK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeRelaxed));
  for (int i = 0; i < calls; ++i) run<Mm>(args[i % sets], ws);
  CHECK(cudaStreamEndCapture(g_stream, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start)); CHECK(cudaEventCreate(&stop));
  std::vector<float> times;
  for (int r = 0; r < 13; ++r) {
    CHECK(cudaEventRecord(start, g_stream));
    CHECK(cudaGraphLaunch(exec, g_stream));
    CHECK(cudaEventRecord(stop, g_stream));
    CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (r >= 3) times.push_back(ms * 1000 / calls);
  }
  std::sort(times.begin(), times.end());
  printf("%-24s %-5s M=%-5lld N=%-6lld K=%-6lld %8.2f us  %6.0f GB/s\n", name, dtype, (long long)m, (long long)n,
         (long long)k, times[times.size() / 2], set_bytes / (times[times.size() / 2] * 1e3));
  CHECK(cudaGraphExecDestroy(exec)); CHECK(cudaGraphDestroy(graph));
  for (auto& p : args) {
    cudaFree(const_cast<void*>(p.a)); cudaFree(const_cast<void*>(p.b)); cudaFree(p.out);
    cudaFree(const_cast<float*>(p.a_scales)); cudaFree(const_cast<float*>(p.b_scales));
  }
}

template <class AB>
void probe_all(const char* dtype) {
  const int64_t shapes[][3] = {{1, 4096, 4096}, {16, 4096, 4096}, {64, 4096, 4096}, {16, 14336, 4096},
                               {1, 14336, 4096}, {128, 4096, 4096}};
  for (auto& s : shapes) {
#define P(cfg) probe<AB, cfg, false>(#cfg, dtype, s[0], s[1], s[2]);
#define S(cfg) probe<AB, cfg, true>("swap " #cfg, dtype, s[0], s[1], s[2]);
    P(Pingpong64x32) P(Pingpong64x128) P(Basic64x64c4) P(Basic64x16x256)
    S(Pingpong64x16x256) S(Basic64x16x256) S(Basic64x32x256) S(Pingpong64x64)
#undef S
#undef P
  }
}

int main() {
  CHECK(cudaStreamCreate(&g_stream));
  CHECK(cudaMalloc(&g_workspace, 64 << 20));
  probe_all<cutlass::float_e4m3_t>("fp8");
  probe_all<int8_t>("int8");
  return 0;
}
