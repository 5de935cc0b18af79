import Foundation

/// The GPU runtimes mcp-rag can drive.
public enum GPURuntimeKind: String, Sendable, Codable, CaseIterable {
    /// AMD ROCm: HIP, hiprtc, hipBLAS.
    case hip
    /// NVIDIA: the CUDA driver API, NVRTC, cuBLAS.
    case cuda

    /// The name people know it by.
    public var displayName: String { self == .cuda ? "CUDA" : "ROCm HIP" }
}

/// What a probe learnt about the device a runtime would use (its first device).
public struct GPUDeviceInfo: Sendable, Codable, Equatable {
    public var name: String
    /// What the kernels are compiled for: "sm_90" on NVIDIA, "gfx1100" on AMD.
    public var architecture: String
    public var memoryBytes: Int
    /// Streaming multiprocessors (NVIDIA) or compute units (AMD).
    public var computeUnits: Int
    /// 32 on NVIDIA and RDNA, 64 on AMD's CDNA and GCN.
    public var warpSize: Int
    /// The driver's version, e.g. "13.0" (CUDA) or "6.2" (HIP).
    public var driverVersion: String
    /// The runtime compiler's version, e.g. "13.0" (NVRTC); nil where it does not say (hiprtc).
    public var compilerVersion: String?
    /// The runtime libraries' version: "HIP 6.2.41134" (hipRuntimeGetVersion) or "cuBLAS 13.1.0".
    public var runtimeVersion: String?
    /// The libraries that would be used, in the order driver, compiler, BLAS.
    public var libraries: [String]

    public init(name: String, architecture: String, memoryBytes: Int, computeUnits: Int, warpSize: Int,
                driverVersion: String, compilerVersion: String?, libraries: [String]) {
        self.name = name
        self.architecture = architecture
        self.memoryBytes = memoryBytes
        self.computeUnits = computeUnits
        self.warpSize = warpSize
        self.driverVersion = driverVersion
        self.compilerVersion = compilerVersion
        self.libraries = libraries
    }

    enum CodingKeys: String, CodingKey {
        case name, architecture, libraries
        case memoryBytes = "memory_bytes"
        case computeUnits = "compute_units"
        case warpSize = "warp_size"
        case driverVersion = "driver_version"
        case compilerVersion = "compiler_version"
        case runtimeVersion = "runtime_version"
    }

    /// "NVIDIA H200 (sm_90, 139.8 GiB)".
    public var summary: String {
        "\(name) (\(architecture), \(String(format: "%.1f", Double(memoryBytes) / Double(1 << 30))) GiB)"
    }
}
