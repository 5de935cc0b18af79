/* Look-alike GPU libraries for the probe tests: compiled by the tests with different -D flags
 * into libcuda.so.1, libcublas.so.13, libamdhip64.so.6, libhiprtc.so.6 and libhipblas.so.2 in a
 * scratch folder named by MCP_RAG_GPU_LIBRARY_PATH. They answer like a driver with the device the
 * flags describe, or with none, or lack symbols; no GPU work happens.
 *
 *   FAKE_CUDA_PARTIAL     libcuda with cuInit only
 *   FAKE_CUDA_NO_DEVICE   cuInit answers CUDA_ERROR_NO_DEVICE (100)
 *   FAKE_CUDA_DRIVER=N    cuDriverGetVersion's answer (default 13000)
 *   FAKE_CUBLAS           the cuBLAS v2 entry points
 *   FAKE_HIP_INIT=N       hipInit's answer (default 0)
 *   FAKE_HIP_R0600        export hipGetDevicePropertiesR0600 (ROCm 6) besides the old name
 *   FAKE_HIPRTC, FAKE_HIPBLAS
 */
#include <string.h>
#include <stddef.h>

#define EXPORT __attribute__((visibility("default")))

#ifndef FAKE_CUDA_DRIVER
#define FAKE_CUDA_DRIVER 13000
#endif
#ifndef FAKE_HIP_INIT
#define FAKE_HIP_INIT 0
#endif

#ifdef FAKE_CUDA
EXPORT int cuInit(unsigned flags) {
#ifdef FAKE_CUDA_NO_DEVICE
    return 100;
#else
    return 0;
#endif
}
#ifndef FAKE_CUDA_PARTIAL
static const char *fake_names[] = {"CUDA_SUCCESS", "CUDA_ERROR_NO_DEVICE"};
EXPORT int cuGetErrorName(int status, const char **name) { *name = status == 100 ? fake_names[1] : fake_names[0]; return 0; }
EXPORT int cuGetErrorString(int status, const char **text) { *text = status == 100 ? "no CUDA-capable device is detected" : "no error"; return 0; }
EXPORT int cuDriverGetVersion(int *version) { *version = FAKE_CUDA_DRIVER; return 0; }
EXPORT int cuDeviceGetCount(int *count) { *count = 1; return 0; }
EXPORT int cuDeviceGet(int *device, int ordinal) { *device = ordinal; return 0; }
EXPORT int cuDeviceGetName(char *name, int length, int device) { strncpy(name, "Fake H200", length); return 0; }
EXPORT int cuDeviceTotalMem_v2(size_t *bytes, int device) { *bytes = (size_t)80 << 30; return 0; }
EXPORT int cuDeviceGetAttribute(int *value, int attribute, int device) {
    switch (attribute) {
    case 75: *value = 9; return 0;   /* compute capability major */
    case 76: *value = 0; return 0;   /* minor */
    case 16: *value = 132; return 0; /* multiprocessors */
    case 10: *value = 32; return 0;  /* warp size */
    default: return 1;
    }
}
EXPORT int cuDevicePrimaryCtxRetain(void **context, int device) { return 999; }
EXPORT int cuDevicePrimaryCtxRelease_v2(int device) { return 0; }
EXPORT int cuCtxSetCurrent(void *context) { return 999; }
EXPORT int cuMemGetInfo_v2(size_t *free, size_t *total) { return 999; }
EXPORT int cuMemAlloc_v2(unsigned long long *pointer, size_t bytes) { return 999; }
EXPORT int cuMemFree_v2(unsigned long long pointer) { return 999; }
EXPORT int cuMemcpyHtoDAsync_v2(void) { return 999; }
EXPORT int cuMemcpyDtoHAsync_v2(void) { return 999; }
EXPORT int cuModuleLoadData(void) { return 999; }
EXPORT int cuModuleUnload(void) { return 999; }
EXPORT int cuModuleGetFunction(void) { return 999; }
EXPORT int cuLaunchKernel(void) { return 999; }
EXPORT int cuStreamCreate(void) { return 999; }
EXPORT int cuStreamDestroy_v2(void) { return 999; }
EXPORT int cuStreamSynchronize(void) { return 999; }
#endif
#endif

#ifdef FAKE_CUBLAS
EXPORT int cublasCreate_v2(void) { return 1; }
EXPORT int cublasDestroy_v2(void) { return 1; }
EXPORT int cublasSetStream_v2(void) { return 1; }
EXPORT int cublasGetVersion_v2(void) { return 1; }
EXPORT int cublasSgemm_v2(void) { return 1; }
EXPORT int cublasSgemmStridedBatched(void) { return 1; }
EXPORT int cublasGemmEx(void) { return 1; }
#endif

#ifdef FAKE_HIP
EXPORT int hipInit(unsigned flags) { return FAKE_HIP_INIT; }
EXPORT const char *hipGetErrorName(int status) { return status == 101 ? "hipErrorInvalidDevice" : "hipSuccess"; }
EXPORT const char *hipGetErrorString(int status) { return status == 101 ? "invalid device ordinal" : "no error"; }
EXPORT int hipDriverGetVersion(int *version) { *version = 60241134; return 0; }
EXPORT int hipRuntimeGetVersion(int *version) { *version = 60241134; return 0; }
EXPORT int hipGetDeviceCount(int *count) { *count = 1; return 0; }
EXPORT int hipSetDevice(int device) { return 0; }
EXPORT int hipDeviceGetName(char *name, int length, int device) { strncpy(name, "Fake Radeon RX 7900 XTX", length); return 0; }
EXPORT int hipDeviceTotalMem(size_t *bytes, int device) { *bytes = (size_t)24 << 30; return 0; }
EXPORT int hipDeviceGetAttribute(int *value, int attribute, int device) {
    switch (attribute) {
    case 63: *value = 96; return 0; /* compute units */
    case 87: *value = 32; return 0; /* warp size (RDNA) */
    default: *value = 0; return 0;
    }
}
/* The unversioned export fills ROCm 5's layout (gcnArchName at byte 396); R0600 ROCm 6's (1160). */
EXPORT int hipGetDeviceProperties(char *properties, int device) { strcpy(properties + 396, "gfx1030"); return 0; }
#ifdef FAKE_HIP_R0600
EXPORT int hipGetDevicePropertiesR0600(char *properties, int device) { strcpy(properties + 1160, "gfx1100:sramecc-:xnack-"); return 0; }
#endif
EXPORT int hipMemGetInfo(void) { return 1; }
EXPORT int hipMalloc(void) { return 1; }
EXPORT int hipFree(void) { return 1; }
EXPORT int hipMemcpyHtoDAsync(void) { return 1; }
EXPORT int hipMemcpyDtoHAsync(void) { return 1; }
EXPORT int hipModuleLoadData(void) { return 1; }
EXPORT int hipModuleUnload(void) { return 1; }
EXPORT int hipModuleGetFunction(void) { return 1; }
EXPORT int hipModuleLaunchKernel(void) { return 1; }
EXPORT int hipStreamCreate(void) { return 1; }
EXPORT int hipStreamDestroy(void) { return 1; }
EXPORT int hipStreamSynchronize(void) { return 1; }
#endif

#ifdef FAKE_HIPRTC
EXPORT int hiprtcCreateProgram(void) { return 1; }
EXPORT int hiprtcCompileProgram(void) { return 1; }
EXPORT int hiprtcGetCodeSize(void) { return 1; }
EXPORT int hiprtcGetCode(void) { return 1; }
EXPORT int hiprtcGetProgramLogSize(void) { return 1; }
EXPORT int hiprtcGetProgramLog(void) { return 1; }
EXPORT int hiprtcDestroyProgram(void) { return 1; }
EXPORT const char *hiprtcGetErrorString(int status) { return "fake"; }
#endif

#ifdef FAKE_HIPBLAS
EXPORT int hipblasCreate(void) { return 1; }
EXPORT int hipblasDestroy(void) { return 1; }
EXPORT int hipblasSetStream(void) { return 1; }
EXPORT int hipblasSgemm(void) { return 1; }
EXPORT int hipblasSgemmStridedBatched(void) { return 1; }
EXPORT int hipblasGemmEx(void) { return 1; }
#endif
