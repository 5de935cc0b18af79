import Foundation

/// Compiles ``EncoderKernels`` for a probed device with its run-time compiler, through the cache.
public struct KernelBuilder: Sendable {
    public let cache: KernelCache

    public init(cache: KernelCache) {
        self.cache = cache
    }

    /// What a build produced: the binary, its cache entry, and whether it came from the cache.
    public struct Built: Sendable {
        public var binary: [UInt8]
        public var entry: String
        public var fromCache: Bool
        public var seconds: Double

        public init(binary: [UInt8], entry: String, fromCache: Bool, seconds: Double) {
            self.binary = binary
            self.entry = entry
            self.fromCache = fromCache
            self.seconds = seconds
        }
    }

    /// Options both compilers take: fast but IEEE-respecting math is left at its default, as the
    /// embeddings must match the CPU's; -std=c++17 keeps the dialect the same on both.
    public static let options = ["-std=c++17"]

    func build(runtime: GPURuntimeKind, device: GPUDeviceInfo,
               compile: (String, [String]) throws(GPUCallError) -> [UInt8]) throws(GPUCallError) -> Built {
        let start = DispatchTime.now().uptimeNanoseconds
        let entry = KernelCache.entryName(runtime: runtime, architecture: device.architecture, driverVersion: device.driverVersion,
                                          compilerVersion: device.compilerVersion, source: EncoderKernels.source, options: Self.options)
        if let cached = cache.load(entry) {
            return Built(binary: cached, entry: entry, fromCache: true, seconds: Self.seconds(since: start))
        }
        let binary = try compile(EncoderKernels.source, Self.options)
        cache.store(binary, as: entry)
        return Built(binary: binary, entry: entry, fromCache: false, seconds: Self.seconds(since: start))
    }

    /// Builds the kernels and hands the binary to `load` (the driver's module loader, returning its
    /// status). A cached binary the driver refuses (damaged, or from another build) is removed and
    /// compiled afresh once; any other refusal is thrown by `check`.
    func buildAndLoad(runtime: GPURuntimeKind, device: GPUDeviceInfo,
                      compile: (String, [String]) throws(GPUCallError) -> [UInt8],
                      load: ([UInt8]) -> Int32, check: (Int32) throws(GPUCallError) -> Void) throws(GPUCallError) -> Built {
        var built = try build(runtime: runtime, device: device, compile: compile)
        var status = load(built.binary)
        if status != 0 && built.fromCache {
            cache.remove(built.entry)
            built = try build(runtime: runtime, device: device, compile: compile)
            status = load(built.binary)
        }
        try check(status)
        return built
    }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}
