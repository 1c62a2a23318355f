/* Link-time stand-in for torch's GPU library (libtorch_cuda.so, or libtorch_hip.so in ROCm
 * builds; cmake/ sets the soname). It defines the C-shim functions the GPU target calls so the
 * linker can record the dependency by soname. It is never installed or loaded: torch's own
 * library provides these at run time. */
int aoti_torch_get_current_cuda_stream(int device_index, void** ret_stream) {
  (void)device_index;
  (void)ret_stream;
  return 1;
}
