/* Link-time stand-in for libtorch_cuda.so (soname libtorch_cuda.so): it declares the C-shim
 * functions the CUDA target calls so the linker can record the dependency. It is never
 * installed or loaded; torch's own libtorch_cuda.so provides these at run time. */
int aoti_torch_get_current_cuda_stream(int device_index, void** ret_stream) {
  (void)device_index;
  (void)ret_stream;
  return 1;
}
