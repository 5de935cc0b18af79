import Foundation

/// A ``ComputeDevice`` on an AMD GPU: device 0, one stream, a hipBLAS handle on that stream, and
/// the encoder kernels loaded from a code object.
///
/// `@unchecked Sendable`: its stored properties are set once, in `init`; the stream and handle are
/// used by one thread at a time, as its user serialises its calls (`GPUBackend`'s lock).
public final class HIPDevice: ComputeDevice, @unchecked Sendable {
    public let runtime = GPURuntimeKind.hip
    public let info: GPUDeviceInfo
    public let kernelBuild: KernelBuilder.Built
    private let hip: HIPRuntimeAPI
    private let blas: HIPBLASAPI
    private let stream: OpaquePointer?
    private let handle: OpaquePointer?
    private let module: OpaquePointer?
    private let functions: [String: OpaquePointer]

    public init(runtime hip: HIPRuntimeAPI, compiler: HIPRTCAPI, blas: HIPBLASAPI, info: GPUDeviceInfo, builder: KernelBuilder) throws(GPUCallError) {
        self.hip = hip
        self.blas = blas
        self.info = info
        var stream: OpaquePointer?
        var handle: OpaquePointer?
        var module: OpaquePointer?
        do throws(GPUCallError) {
            try hip.check(hip.hipSetDevice(0), "hipSetDevice")
            try hip.check(hip.hipStreamCreate(&stream), "hipStreamCreate")
            try blas.check(blas.hipblasCreate(&handle), "hipblasCreate")
            try blas.check(blas.hipblasSetStream(handle, stream), "hipblasSetStream")
            let compile: (String, [String]) throws(GPUCallError) -> [UInt8] = { source, options throws(GPUCallError) in
                try compiler.compile(source, name: "mcp_rag_encoder.hip", architecture: info.architecture, options: options)
            }
            let built = try builder.buildAndLoad(
                runtime: .hip, device: info, compile: compile,
                load: { binary in binary.withUnsafeBytes { hip.hipModuleLoadData(&module, $0.baseAddress!) } },
                check: { status throws(GPUCallError) in try hip.check(status, "hipModuleLoadData") })
            kernelBuild = built
            var found: [String: OpaquePointer] = [:]
            for name in EncoderKernels.functionNames {
                var function: OpaquePointer?
                try hip.check(hip.hipModuleGetFunction(&function, module, name), "hipModuleGetFunction(\(name))")
                found[name] = function
            }
            functions = found
        } catch {
            if module != nil { _ = hip.hipModuleUnload(module) }
            if handle != nil { _ = blas.hipblasDestroy(handle) }
            if stream != nil { _ = hip.hipStreamDestroy(stream) }
            throw error
        }
        self.stream = stream
        self.handle = handle
        self.module = module
    }

    deinit {
        _ = blas.hipblasDestroy(handle)
        _ = hip.hipModuleUnload(module)
        _ = hip.hipStreamDestroy(stream)
    }

    /// The current device is per thread; the caller's thread may be new to it.
    private func select() throws(GPUCallError) {
        try hip.check(hip.hipSetDevice(0), "hipSetDevice")
    }

    public func allocate(bytes: Int) throws(GPUCallError) -> UInt64 {
        try select()
        var address: UInt64 = 0
        try hip.check(hip.hipMalloc(&address, max(bytes, 4)), "hipMalloc")
        return address
    }

    public func release(_ address: UInt64) {
        guard address != 0, (try? select()) != nil else { return }
        _ = hip.hipFree(address)
    }

    public func upload(_ source: UnsafeRawBufferPointer, to address: UInt64) throws(GPUCallError) {
        guard let base = source.baseAddress, source.count > 0 else { return }
        try select()
        try hip.check(hip.hipMemcpyHtoDAsync(address, base, source.count, stream), "hipMemcpyHtoDAsync")
        try hip.check(hip.hipStreamSynchronize(stream), "hipStreamSynchronize")
    }

    public func download(from address: UInt64, into target: UnsafeMutableRawBufferPointer) throws(GPUCallError) {
        guard let base = target.baseAddress, target.count > 0 else { return }
        try select()
        try hip.check(hip.hipMemcpyDtoHAsync(base, address, target.count, stream), "hipMemcpyDtoHAsync")
        try hip.check(hip.hipStreamSynchronize(stream), "hipStreamSynchronize")
    }

    public func launch(_ kernel: String, grid: (x: Int, y: Int, z: Int), sharedBytes: Int,
                       _ arguments: [KernelArgument]) throws(GPUCallError) {
        guard let function = functions[kernel] else {
            throw GPUCallError(runtime: "hip", call: "hipModuleLaunchKernel", code: -1, message: "no kernel named \(kernel)")
        }
        try select()
        let status = withKernelParameters(arguments) { parameters in
            hip.hipModuleLaunchKernel(function, UInt32(grid.x), UInt32(grid.y), UInt32(grid.z), UInt32(EncoderKernels.blockThreads), 1, 1,
                                      UInt32(sharedBytes), stream, parameters, nil)
        }
        try hip.check(status, "hipModuleLaunchKernel(\(kernel))")
    }

    public func gemm(_ shape: GEMMShape, a: UInt64, b: UInt64, c: UInt64) throws(GPUCallError) {
        try select()
        var alpha = shape.alpha, beta = shape.beta
        let opA = shape.transposeA ? HIPBLASAPI.operationTranspose : HIPBLASAPI.operationNone
        let opB = shape.transposeB ? HIPBLASAPI.operationTranspose : HIPBLASAPI.operationNone
        if shape.batch == 1 {
            try blas.check(blas.hipblasSgemm(handle, opA, opB, Int32(shape.m), Int32(shape.n), Int32(shape.k), &alpha, a, Int32(shape.lda),
                                             b, Int32(shape.ldb), &beta, c, Int32(shape.ldc)), "hipblasSgemm")
        } else {
            try blas.check(blas.hipblasSgemmStridedBatched(
                handle, opA, opB, Int32(shape.m), Int32(shape.n), Int32(shape.k), &alpha, a, Int32(shape.lda), Int64(shape.strideA),
                b, Int32(shape.ldb), Int64(shape.strideB), &beta, c, Int32(shape.ldc), Int64(shape.strideC), Int32(shape.batch)),
                "hipblasSgemmStridedBatched")
        }
    }

    public func gemmHalf(_ shape: GEMMShape, a: UInt64, b: UInt64, c: UInt64) throws(GPUCallError) {
        try select()
        var alpha = shape.alpha, beta = shape.beta
        let opA = shape.transposeA ? HIPBLASAPI.operationTranspose : HIPBLASAPI.operationNone
        let opB = shape.transposeB ? HIPBLASAPI.operationTranspose : HIPBLASAPI.operationNone
        let gemmEx = blas.hipblasGemmEx
        try blas.check(gemmEx.function(
            handle, opA, opB, Int32(shape.m), Int32(shape.n), Int32(shape.k), &alpha, a, gemmEx.half, Int32(shape.lda),
            b, gemmEx.half, Int32(shape.ldb), &beta, c, gemmEx.float, Int32(shape.ldc), gemmEx.compute,
            HIPBLASAPI.algorithmDefault), "hipblasGemmEx")
    }

    public func memory() throws(GPUCallError) -> (free: Int, total: Int) {
        try select()
        var free = 0, total = 0
        try hip.check(hip.hipMemGetInfo(&free, &total), "hipMemGetInfo")
        return (free, total)
    }
}

extension GPUProbe.Loaded {
    /// The device this probe found, opened: a stream, a BLAS handle and the kernels built (or
    /// taken from `builder`'s cache).
    public func open(builder: KernelBuilder) throws(GPUCallError) -> any ComputeDevice {
        switch self {
        case .cuda(let driver, let compiler, let blas, let device):
            try CUDADevice(driver: driver, compiler: compiler, blas: blas, info: device, builder: builder)
        case .hip(let runtime, let compiler, let blas, let device):
            try HIPDevice(runtime: runtime, compiler: compiler, blas: blas, info: device, builder: builder)
        }
    }

    /// The probed device's description.
    public var device: GPUDeviceInfo {
        switch self {
        case .cuda(_, _, _, let device), .hip(_, _, _, let device): device
        }
    }
}
