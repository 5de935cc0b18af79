import Foundation

/// The HIP runtime (`libamdhip64.so.6` or `.5`, from ROCm), the functions mcp-rag calls,
/// resolved at run time.
///
/// Signatures are hip_runtime_api.h's (ROCm 5 and 6, x86_64). Device pointers are `void*` in C
/// and a UInt64 here: both travel in one integer register, and the GPU code shares one device
/// pointer type with CUDA's.
///
/// `@unchecked Sendable`: every stored property is a `let` (the library, and C function pointers
/// looked up once), and the library allows its functions to be called from any thread.
public struct HIPRuntimeAPI: @unchecked Sendable {
    public typealias DevicePointer = UInt64
    public let library: DynamicLibrary
    let hipInit: @convention(c) (UInt32) -> Int32
    let hipDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let hipRuntimeGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let hipGetDeviceCount: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let hipSetDevice: @convention(c) (Int32) -> Int32
    let hipDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Int32
    let hipDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, Int32) -> Int32
    let hipDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> Int32
    /// hipGetDevicePropertiesR0600 (ROCm 6) or hipGetDeviceProperties (ROCm 5's layout), and
    /// where that layout keeps gcnArchName.
    let getProperties: (function: @convention(c) (UnsafeMutableRawPointer, Int32) -> Int32, archNameOffset: Int)
    let hipMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> Int32
    let hipMalloc: @convention(c) (UnsafeMutablePointer<DevicePointer>, Int) -> Int32
    let hipFree: @convention(c) (DevicePointer) -> Int32
    let hipMemcpyHtoDAsync: @convention(c) (DevicePointer, UnsafeRawPointer, Int, OpaquePointer?) -> Int32
    let hipMemcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer, DevicePointer, Int, OpaquePointer?) -> Int32
    let hipModuleLoadData: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafeRawPointer) -> Int32
    let hipModuleUnload: @convention(c) (OpaquePointer?) -> Int32
    let hipModuleGetFunction: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UnsafePointer<CChar>) -> Int32
    let hipModuleLaunchKernel: @convention(c) (
        OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, OpaquePointer?,
        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
    let hipStreamCreate: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    let hipStreamDestroy: @convention(c) (OpaquePointer?) -> Int32
    let hipStreamSynchronize: @convention(c) (OpaquePointer?) -> Int32
    let hipGetErrorName: @convention(c) (Int32) -> UnsafePointer<CChar>?
    let hipGetErrorString: @convention(c) (Int32) -> UnsafePointer<CChar>?

    static let symbols = [
        "hipInit", "hipDriverGetVersion", "hipRuntimeGetVersion", "hipGetDeviceCount", "hipSetDevice", "hipDeviceGetName",
        "hipDeviceTotalMem", "hipDeviceGetAttribute", "hipGetDeviceProperties", "hipMemGetInfo", "hipMalloc", "hipFree",
        "hipMemcpyHtoDAsync", "hipMemcpyDtoHAsync", "hipModuleLoadData", "hipModuleUnload", "hipModuleGetFunction",
        "hipModuleLaunchKernel", "hipStreamCreate", "hipStreamDestroy", "hipStreamSynchronize", "hipGetErrorName",
        "hipGetErrorString",
    ]

    /// The library names tried, newest first.
    public static let libraryNames = ["libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so"]

    // hip_runtime_api.h's values (not CUDA's: the attribute enums differ).
    static let noDevice: Int32 = 100
    static let attributeComputeCapabilityMajor: Int32 = 23
    static let attributeMultiprocessorCount: Int32 = 63
    static let attributeWarpSize: Int32 = 87
    /// Byte offsets of `char gcnArchName[256]` in hipDeviceProp_tR0600 (ROCm 6 and 7, 1472 bytes)
    /// and in the layout the unversioned export fills (ROCm 5's, 792 bytes), on x86_64.
    static let archNameOffsetR0600 = 1160
    static let archNameOffsetR0000 = 396
    /// Room for either layout, with margin for fields a later release appends.
    static let propertiesBufferBytes = 4096

    public init(library: DynamicLibrary) throws(LibraryLoadError) {
        try library.require(Self.symbols)
        self.library = library
        hipInit = try library.function("hipInit")
        hipDriverGetVersion = try library.function("hipDriverGetVersion")
        hipRuntimeGetVersion = try library.function("hipRuntimeGetVersion")
        hipGetDeviceCount = try library.function("hipGetDeviceCount")
        hipSetDevice = try library.function("hipSetDevice")
        hipDeviceGetName = try library.function("hipDeviceGetName")
        hipDeviceTotalMem = try library.function("hipDeviceTotalMem")
        hipDeviceGetAttribute = try library.function("hipDeviceGetAttribute")
        // ROCm 6 still exports the unversioned name, but it fills the old layout.
        if let versioned: @convention(c) (UnsafeMutableRawPointer, Int32) -> Int32 =
            library.optionalFunction("hipGetDevicePropertiesR0600") {
            getProperties = (versioned, Self.archNameOffsetR0600)
        } else {
            getProperties = (try library.function("hipGetDeviceProperties"), Self.archNameOffsetR0000)
        }
        hipMemGetInfo = try library.function("hipMemGetInfo")
        hipMalloc = try library.function("hipMalloc")
        hipFree = try library.function("hipFree")
        hipMemcpyHtoDAsync = try library.function("hipMemcpyHtoDAsync")
        hipMemcpyDtoHAsync = try library.function("hipMemcpyDtoHAsync")
        hipModuleLoadData = try library.function("hipModuleLoadData")
        hipModuleUnload = try library.function("hipModuleUnload")
        hipModuleGetFunction = try library.function("hipModuleGetFunction")
        hipModuleLaunchKernel = try library.function("hipModuleLaunchKernel")
        hipStreamCreate = try library.function("hipStreamCreate")
        hipStreamDestroy = try library.function("hipStreamDestroy")
        hipStreamSynchronize = try library.function("hipStreamSynchronize")
        hipGetErrorName = try library.function("hipGetErrorName")
        hipGetErrorString = try library.function("hipGetErrorString")
    }

    /// The device's architecture as hiprtc wants it, e.g. "gfx1100" (the features after a colon,
    /// such as ":sramecc-:xnack-", are dropped).
    func architectureName(device: Int32) throws(GPUCallError) -> String {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.propertiesBufferBytes, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.propertiesBufferBytes)
        try check(getProperties.function(buffer, device), "hipGetDeviceProperties")
        let name = (buffer + getProperties.archNameOffset).withMemoryRebound(to: CChar.self, capacity: 256) { pointer in
            String(cString: pointer)
        }
        return String(name.split(separator: ":").first ?? "")
    }

    func check(_ status: Int32, _ call: String) throws(GPUCallError) {
        guard status != 0 else { return }
        throw GPUCallError(runtime: "hip", call: call, code: status, message: message(for: status))
    }

    func message(for status: Int32) -> String {
        [hipGetErrorName(status), hipGetErrorString(status)].compactMap { $0.map { String(cString: $0) } }
            .joined(separator: ": ")
    }
}
