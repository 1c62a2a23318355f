/* Link-time stand-in for libtorch_hip.so (soname libtorch_hip.so): ROCm torch exports the
 * C-shim stream getter under its CUDA name from there. It is never installed or loaded;
 * torch's own libtorch_hip.so provides it at run time. */
int aoti_torch_get_current_cuda_stream(int device_index, void** ret_stream) {
  (void)device_index;
  (void)ret_stream;
  return 1;
}
