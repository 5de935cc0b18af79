import Foundation

/// Looks for each GPU runtime and says, in words, whether it can serve and why not.
///
/// A probe opens the driver, compiler and BLAS libraries, starts the driver and reads the first
/// device's properties. It never crashes on what it finds: a missing library, symbol, device or
/// driver becomes the runtime's `reason`.
public enum GPUProbe {
    /// One runtime and what became of it, as reports show it.
    public struct Runtime: Sendable, Codable, Equatable {
        /// "hip" or "cuda".
        public var name: String
        /// The driver library that was opened, if one was.
        public var library: String?
        /// Whether everything the GPU backend needs is there: driver, device, compiler, BLAS.
        public var usable: Bool
        /// Why not, or what was found, in words.
        public var reason: String
        /// The device, once the driver answered.
        public var device: GPUDeviceInfo?

        public init(name: String, library: String?, usable: Bool, reason: String, device: GPUDeviceInfo? = nil) {
            self.name = name
            self.library = library
            self.usable = usable
            self.reason = reason
            self.device = device
        }
    }

    /// The libraries of a usable runtime, for building its backend.
    public enum Loaded: Sendable {
        case cuda(driver: CUDADriverAPI, compiler: NVRTCAPI, blas: CUBLASAPI, device: GPUDeviceInfo)
        case hip(runtime: HIPRuntimeAPI, compiler: HIPRTCAPI, blas: HIPBLASAPI, device: GPUDeviceInfo)
    }

    /// A probe's report and, when usable, what it loaded.
    public struct Outcome: Sendable {
        public var runtime: Runtime
        public var loaded: Loaded?
    }

    /// Every runtime (`only` one, when given), in the order auto-selection prefers them.
    ///
    /// - Parameter amdDriverNode: see ``amdDriverNode``; nil skips the check (tests).
    public static func probe(search: LibrarySearch = .fromEnvironment(), only: GPURuntimeKind? = nil,
                             amdDriverNode: String? = amdDriverNode) -> [Outcome] {
        GPURuntimeKind.allCases.filter { only == nil || $0 == only }.map { kind in
            switch kind {
            case .cuda: probeCUDA(search: search)
            case .hip: probeHIP(search: search, driverNode: amdDriverNode)
            }
        }
    }

    /// The AMD kernel driver's device node, which every ROCm GPU needs. Without it the HIP runtime
    /// is not even loaded: started where no GPU is, it leaves threads and exit handlers behind that
    /// race the process's exit (seen as heap corruption when a short command ends).
    public static let amdDriverNode = "/dev/kfd"

    // MARK: - CUDA

    static func probeCUDA(search: LibrarySearch) -> Outcome {
        func unusable(_ reason: String, library: String? = nil, device: GPUDeviceInfo? = nil) -> Outcome {
            Outcome(runtime: Runtime(name: "cuda", library: library, usable: false, reason: reason, device: device), loaded: nil)
        }
        let driver: CUDADriverAPI
        do {
            driver = try CUDADriverAPI(library: DynamicLibrary.open(CUDADriverAPI.libraryNames, search: search))
        } catch {
            return unusable("the NVIDIA driver library: \(error)")
        }
        let path = driver.library.path
        var device: GPUDeviceInfo
        do {
            device = try cudaDevice(driver)
        } catch {
            let reason = error.code == CUDADriverAPI.noDevice
                ? "no NVIDIA GPU is visible (\(error.message))"
                : "the NVIDIA driver did not start: \(error)"
            return unusable(reason, library: path)
        }
        let driverMajor = Int32(device.driverVersion.split(separator: ".").first ?? "0") ?? 0
        // A compiler newer than the driver emits code the driver cannot load, so the newest NVRTC
        // no newer than the driver is taken.
        var compilerFailures: [String] = []
        var compiler: NVRTCAPI?
        for name in NVRTCAPI.libraryNames {
            do {
                let candidate = try NVRTCAPI(library: DynamicLibrary.open([name], search: search), search: search)
                if candidate.version.major > driverMajor {
                    compilerFailures.append("\(name) is NVRTC \(candidate.version.major).\(candidate.version.minor), newer than the driver's CUDA \(device.driverVersion)")
                    continue
                }
                compiler = candidate
                break
            } catch {
                // A name simply not found says nothing; a file that is there but unusable does.
                if case .notFound(_, let failures) = error, failures.isEmpty { continue }
                compilerFailures.append(error.description)
            }
        }
        guard let compiler else {
            let detail = compilerFailures.isEmpty
                ? "none of \(NVRTCAPI.libraryNames.joined(separator: ", ")) could be loaded"
                : compilerFailures.joined(separator: "; ")
            return unusable("found \(device.summary), but not NVRTC, the CUDA run-time compiler (\(detail)); "
                + "install the CUDA toolkit or `pip install nvidia-cuda-nvrtc` and point \(LibrarySearch.environmentVariable) at its lib folder",
                library: path, device: device)
        }
        device.compilerVersion = "\(compiler.version.major).\(compiler.version.minor)"
        let blas: CUBLASAPI
        do {
            blas = try CUBLASAPI(library: DynamicLibrary.open(CUBLASAPI.libraryNames, search: search))
        } catch {
            return unusable("found \(device.summary), but not cuBLAS: \(error)", library: path, device: device)
        }
        device.libraries = [path, compiler.library.path, blas.library.path]
        device.runtimeVersion = blas.version.map { "cuBLAS \($0)" }
        return Outcome(runtime: Runtime(name: "cuda", library: path, usable: true, reason: "found \(device.summary)", device: device),
                       loaded: .cuda(driver: driver, compiler: compiler, blas: blas, device: device))
    }

    private static func cudaDevice(_ driver: CUDADriverAPI) throws(GPUCallError) -> GPUDeviceInfo {
        try driver.check(driver.cuInit(0), "cuInit")
        var version: Int32 = 0
        try driver.check(driver.cuDriverGetVersion(&version), "cuDriverGetVersion")
        var count: Int32 = 0
        try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard count > 0 else {
            throw GPUCallError(runtime: "cuda", call: "cuDeviceGetCount", code: CUDADriverAPI.noDevice, message: "no device")
        }
        var device: CUDADriverAPI.Device = 0
        try driver.check(driver.cuDeviceGet(&device, 0), "cuDeviceGet")
        var name = [CChar](repeating: 0, count: 256)
        try driver.check(driver.cuDeviceGetName(&name, 255, device), "cuDeviceGetName")
        var memory = 0
        try driver.check(driver.cuDeviceTotalMem(&memory, device), "cuDeviceTotalMem_v2")
        func attribute(_ which: Int32) throws(GPUCallError) -> Int32 {
            var value: Int32 = 0
            try driver.check(driver.cuDeviceGetAttribute(&value, which, device), "cuDeviceGetAttribute")
            return value
        }
        let major = try attribute(CUDADriverAPI.attributeComputeCapabilityMajor)
        let minor = try attribute(CUDADriverAPI.attributeComputeCapabilityMinor)
        return GPUDeviceInfo(
            name: String(nulTerminated: name), architecture: "sm_\(major)\(minor)", memoryBytes: memory,
            computeUnits: Int(try attribute(CUDADriverAPI.attributeMultiprocessorCount)),
            warpSize: Int(try attribute(CUDADriverAPI.attributeWarpSize)),
            driverVersion: "\(version / 1000).\(version % 1000 / 10)", compilerVersion: nil, libraries: [driver.library.path])
    }

    // MARK: - HIP

    /// - Parameter driverNode: checked before anything is loaded; nil skips the check (the tests'
    ///   look-alike libraries need no driver).
    static func probeHIP(search: LibrarySearch, driverNode: String?) -> Outcome {
        func unusable(_ reason: String, library: String? = nil, device: GPUDeviceInfo? = nil) -> Outcome {
            Outcome(runtime: Runtime(name: "hip", library: library, usable: false, reason: reason, device: device), loaded: nil)
        }
        if let driverNode, !FileManager.default.fileExists(atPath: driverNode) {
            return unusable("no AMD GPU driver (\(driverNode) is missing: the amdgpu kernel driver is not loaded, "
                + "or this container was not given the device)")
        }
        let runtime: HIPRuntimeAPI
        do {
            runtime = try HIPRuntimeAPI(library: DynamicLibrary.open(HIPRuntimeAPI.libraryNames, search: search))
        } catch {
            return unusable("the ROCm HIP runtime: \(error)")
        }
        let path = runtime.library.path
        var device: GPUDeviceInfo
        do {
            device = try hipDevice(runtime)
        } catch {
            // hipInit answers hipErrorInvalidDevice (101) where ROCm is installed but no GPU is.
            let reason = error.code == HIPRuntimeAPI.noDevice || error.code == 101
                ? "no AMD GPU is visible (\(error.message))"
                : "the HIP runtime did not start: \(error)"
            return unusable(reason, library: path)
        }
        let compiler: HIPRTCAPI
        do {
            compiler = try HIPRTCAPI(library: DynamicLibrary.open(HIPRTCAPI.libraryNames, search: search))
        } catch {
            // ROCm 5 has hiprtc inside the runtime library itself.
            guard let inside = try? HIPRTCAPI(library: runtime.library) else {
                return unusable("found \(device.summary), but not hiprtc, ROCm's run-time compiler: \(error)", library: path, device: device)
            }
            compiler = inside
        }
        let blas: HIPBLASAPI
        do {
            blas = try HIPBLASAPI(library: DynamicLibrary.open(HIPBLASAPI.libraryNames, search: search))
        } catch {
            return unusable("found \(device.summary), but not hipBLAS: \(error)", library: path, device: device)
        }
        device.libraries = [path, compiler.library.path, blas.library.path]
        return Outcome(runtime: Runtime(name: "hip", library: path, usable: true, reason: "found \(device.summary)", device: device),
                       loaded: .hip(runtime: runtime, compiler: compiler, blas: blas, device: device))
    }

    private static func hipDevice(_ runtime: HIPRuntimeAPI) throws(GPUCallError) -> GPUDeviceInfo {
        try runtime.check(runtime.hipInit(0), "hipInit")
        var count: Int32 = 0
        try runtime.check(runtime.hipGetDeviceCount(&count), "hipGetDeviceCount")
        guard count > 0 else {
            throw GPUCallError(runtime: "hip", call: "hipGetDeviceCount", code: HIPRuntimeAPI.noDevice, message: "no device")
        }
        var version: Int32 = 0
        try runtime.check(runtime.hipDriverGetVersion(&version), "hipDriverGetVersion")
        var name = [CChar](repeating: 0, count: 256)
        try runtime.check(runtime.hipDeviceGetName(&name, 255, 0), "hipDeviceGetName")
        var memory = 0
        try runtime.check(runtime.hipDeviceTotalMem(&memory, 0), "hipDeviceTotalMem")
        func attribute(_ which: Int32) throws(GPUCallError) -> Int32 {
            var value: Int32 = 0
            try runtime.check(runtime.hipDeviceGetAttribute(&value, which, 0), "hipDeviceGetAttribute")
            return value
        }
        let architecture = try runtime.architectureName(device: 0)
        guard architecture.hasPrefix("gfx") else {
            throw GPUCallError(runtime: "hip", call: "hipGetDeviceProperties", code: -1,
                               message: "the device reports no gfx architecture (\"\(architecture)\")")
        }
        var runtimeVersion: Int32 = 0
        _ = runtime.hipRuntimeGetVersion(&runtimeVersion)
        // HIP's versions are major * 10,000,000 + minor * 100,000 + patch.
        var info = GPUDeviceInfo(
            name: String(nulTerminated: name), architecture: architecture, memoryBytes: memory,
            computeUnits: Int(try attribute(HIPRuntimeAPI.attributeMultiprocessorCount)),
            warpSize: Int(try attribute(HIPRuntimeAPI.attributeWarpSize)),
            driverVersion: "\(version / 10_000_000).\(version / 100_000 % 100)", compilerVersion: nil,
            libraries: [runtime.library.path])
        if runtimeVersion > 0 {
            info.runtimeVersion = "HIP \(runtimeVersion / 10_000_000).\(runtimeVersion / 100_000 % 100).\(runtimeVersion % 100_000)"
        }
        return info
    }
}
