import Foundation

/// The CUDA driver API (`libcuda.so.1`, installed with NVIDIA's driver), the functions mcp-rag
/// calls, resolved at run time.
///
/// Names and signatures are those of cuda.h (CUDA 12 and 13, x86_64): CUdevice is an int,
/// CUdeviceptr an unsigned 64-bit integer, handles are opaque pointers. Functions cuda.h renames
/// with a macro are resolved by their versioned names (`cuMemAlloc_v2`): the unsuffixed exports
/// are the legacy 32-bit entry points. Contexts are the device's primary context, which cuBLAS
/// shares, rather than `cuCtxCreate`, whose export changed in CUDA 13.
///
/// `@unchecked Sendable`: every stored property is a `let` (the library, and C function pointers
/// looked up once), and the library allows its functions to be called from any thread.
public struct CUDADriverAPI: @unchecked Sendable {
    public typealias Device = Int32
    public typealias DevicePointer = UInt64
    public typealias Handle = OpaquePointer

    public let library: DynamicLibrary
    let cuInit: @convention(c) (UInt32) -> Int32
    let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Device>, Int32) -> Int32
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Device) -> Int32
    let cuDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, Device) -> Int32
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Device) -> Int32
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<Handle?>, Device) -> Int32
    let cuDevicePrimaryCtxRelease: @convention(c) (Device) -> Int32
    let cuCtxSetCurrent: @convention(c) (Handle?) -> Int32
    let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> Int32
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<DevicePointer>, Int) -> Int32
    let cuMemFree: @convention(c) (DevicePointer) -> Int32
    let cuMemcpyHtoDAsync: @convention(c) (DevicePointer, UnsafeRawPointer, Int, Handle?) -> Int32
    let cuMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer, DevicePointer, Int, Handle?) -> Int32
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<Handle?>, UnsafeRawPointer) -> Int32
    let cuModuleUnload: @convention(c) (Handle?) -> Int32
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<Handle?>, Handle?, UnsafePointer<CChar>) -> Int32
    let cuLaunchKernel: @convention(c) (
        Handle?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, Handle?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<Handle?>, UInt32) -> Int32
    let cuStreamDestroy: @convention(c) (Handle?) -> Int32
    let cuStreamSynchronize: @convention(c) (Handle?) -> Int32
    let cuGetErrorName: @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32
    let cuGetErrorString: @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32

    /// Every symbol resolved above, checked together so a reason names all that are missing.
    static let symbols = [
        "cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName", "cuDeviceTotalMem_v2",
        "cuDeviceGetAttribute", "cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent",
        "cuMemGetInfo_v2", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2",
        "cuModuleLoadData", "cuModuleUnload", "cuModuleGetFunction", "cuLaunchKernel", "cuStreamCreate",
        "cuStreamDestroy_v2", "cuStreamSynchronize", "cuGetErrorName", "cuGetErrorString",
    ]

    /// The library names tried, newest first.
    public static let libraryNames = ["libcuda.so.1", "libcuda.so"]

    // cuda.h's enum values used here.
    static let noDevice: Int32 = 100
    static let attributeMultiprocessorCount: Int32 = 16
    static let attributeWarpSize: Int32 = 10
    static let attributeComputeCapabilityMajor: Int32 = 75
    static let attributeComputeCapabilityMinor: Int32 = 76

    public init(library: DynamicLibrary) throws(LibraryLoadError) {
        try library.require(Self.symbols)
        self.library = library
        cuInit = try library.function("cuInit")
        cuDriverGetVersion = try library.function("cuDriverGetVersion")
        cuDeviceGetCount = try library.function("cuDeviceGetCount")
        cuDeviceGet = try library.function("cuDeviceGet")
        cuDeviceGetName = try library.function("cuDeviceGetName")
        cuDeviceTotalMem = try library.function("cuDeviceTotalMem_v2")
        cuDeviceGetAttribute = try library.function("cuDeviceGetAttribute")
        cuDevicePrimaryCtxRetain = try library.function("cuDevicePrimaryCtxRetain")
        cuDevicePrimaryCtxRelease = try library.function("cuDevicePrimaryCtxRelease_v2")
        cuCtxSetCurrent = try library.function("cuCtxSetCurrent")
        cuMemGetInfo = try library.function("cuMemGetInfo_v2")
        cuMemAlloc = try library.function("cuMemAlloc_v2")
        cuMemFree = try library.function("cuMemFree_v2")
        cuMemcpyHtoDAsync = try library.function("cuMemcpyHtoDAsync_v2")
        cuMemcpyDtoHAsync = try library.function("cuMemcpyDtoHAsync_v2")
        cuModuleLoadData = try library.function("cuModuleLoadData")
        cuModuleUnload = try library.function("cuModuleUnload")
        cuModuleGetFunction = try library.function("cuModuleGetFunction")
        cuLaunchKernel = try library.function("cuLaunchKernel")
        cuStreamCreate = try library.function("cuStreamCreate")
        cuStreamDestroy = try library.function("cuStreamDestroy_v2")
        cuStreamSynchronize = try library.function("cuStreamSynchronize")
        cuGetErrorName = try library.function("cuGetErrorName")
        cuGetErrorString = try library.function("cuGetErrorString")
    }

    /// Throws a ``GPUCallError`` in the driver's words unless `status` is CUDA_SUCCESS.
    func check(_ status: Int32, _ call: String) throws(GPUCallError) {
        guard status != 0 else { return }
        throw GPUCallError(runtime: "cuda", call: call, code: status, message: message(for: status))
    }

    /// "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected", or "" for a code the driver
    /// does not know.
    func message(for status: Int32) -> String {
        var name: UnsafePointer<CChar>?
        var text: UnsafePointer<CChar>?
        _ = cuGetErrorName(status, &name)
        _ = cuGetErrorString(status, &text)
        return [name, text].compactMap { $0.map { String(cString: $0) } }.joined(separator: ": ")
    }
}
