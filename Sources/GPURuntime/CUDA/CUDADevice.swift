import Foundation

/// A ``ComputeDevice`` on an NVIDIA GPU: the device's primary context, one stream, a cuBLAS handle
/// on that stream, and the encoder kernels loaded from a cubin.
///
/// `@unchecked Sendable`: its stored properties are set once, in `init`; the context, stream and
/// handle are used by one thread at a time, as its user serialises its calls (`GPUBackend`'s lock).
public final class CUDADevice: ComputeDevice, @unchecked Sendable {
    public let runtime = GPURuntimeKind.cuda
    public let info: GPUDeviceInfo
    public let kernelBuild: KernelBuilder.Built
    private let driver: CUDADriverAPI
    private let blas: CUBLASAPI
    private let device: CUDADriverAPI.Device
    private let context: CUDADriverAPI.Handle
    private let stream: CUDADriverAPI.Handle?
    private let handle: OpaquePointer?
    private let module: CUDADriverAPI.Handle?
    private let functions: [String: CUDADriverAPI.Handle]

    public init(driver: CUDADriverAPI, compiler: NVRTCAPI, blas: CUBLASAPI, info: GPUDeviceInfo, builder: KernelBuilder) throws(GPUCallError) {
        self.driver = driver
        self.blas = blas
        self.info = info
        var device: CUDADriverAPI.Device = 0
        try driver.check(driver.cuDeviceGet(&device, 0), "cuDeviceGet")
        self.device = device
        var context: CUDADriverAPI.Handle?
        try driver.check(driver.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain")
        guard let context else { throw GPUCallError(runtime: "cuda", call: "cuDevicePrimaryCtxRetain", code: -1, message: "no context") }
        self.context = context
        // From here on a failure must release what was taken; `deinit` does not run for a failed init.
        var stream: CUDADriverAPI.Handle?
        var handle: OpaquePointer?
        var module: CUDADriverAPI.Handle?
        do throws(GPUCallError) {
            try driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")
            try driver.check(driver.cuStreamCreate(&stream, 0), "cuStreamCreate")
            try blas.check(blas.cublasCreate(&handle), "cublasCreate_v2")
            try blas.check(blas.cublasSetStream(handle, stream), "cublasSetStream_v2")
            let compile: (String, [String]) throws(GPUCallError) -> [UInt8] = { source, options throws(GPUCallError) in
                try compiler.compile(source, name: "mcp_rag_encoder.cu", architecture: info.architecture, options: options)
            }
            let built = try builder.buildAndLoad(
                runtime: .cuda, device: info, compile: compile,
                load: { binary in binary.withUnsafeBytes { driver.cuModuleLoadData(&module, $0.baseAddress!) } },
                check: { status throws(GPUCallError) in try driver.check(status, "cuModuleLoadData") })
            kernelBuild = built
            var found: [String: CUDADriverAPI.Handle] = [:]
            for name in EncoderKernels.functionNames {
                var function: CUDADriverAPI.Handle?
                try driver.check(driver.cuModuleGetFunction(&function, module, name), "cuModuleGetFunction(\(name))")
                found[name] = function
            }
            functions = found
        } catch {
            if module != nil { _ = driver.cuModuleUnload(module) }
            if handle != nil { _ = blas.cublasDestroy(handle) }
            if stream != nil { _ = driver.cuStreamDestroy(stream) }
            _ = driver.cuDevicePrimaryCtxRelease(device)
            throw error
        }
        self.stream = stream
        self.handle = handle
        self.module = module
    }

    deinit {
        _ = driver.cuCtxSetCurrent(context)
        _ = blas.cublasDestroy(handle)
        _ = driver.cuModuleUnload(module)
        _ = driver.cuStreamDestroy(stream)
        _ = driver.cuDevicePrimaryCtxRelease(device)
    }

    /// A context is current per thread; the caller's thread may be new to it.
    private func makeCurrent() throws(GPUCallError) {
        try driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent")
    }

    public func allocate(bytes: Int) throws(GPUCallError) -> UInt64 {
        try makeCurrent()
        var address: UInt64 = 0
        try driver.check(driver.cuMemAlloc(&address, max(bytes, 4)), "cuMemAlloc_v2")
        return address
    }

    public func release(_ address: UInt64) {
        guard address != 0, (try? makeCurrent()) != nil else { return }
        _ = driver.cuMemFree(address)
    }

    public func upload(_ source: UnsafeRawBufferPointer, to address: UInt64) throws(GPUCallError) {
        guard let base = source.baseAddress, source.count > 0 else { return }
        try makeCurrent()
        try driver.check(driver.cuMemcpyHtoDAsync(address, base, source.count, stream), "cuMemcpyHtoDAsync_v2")
        // The source is the caller's memory, valid only during this call.
        try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
    }

    public func download(from address: UInt64, into target: UnsafeMutableRawBufferPointer) throws(GPUCallError) {
        guard let base = target.baseAddress, target.count > 0 else { return }
        try makeCurrent()
        try driver.check(driver.cuMemcpyDtoHAsync(base, address, target.count, stream), "cuMemcpyDtoHAsync_v2")
        try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize")
    }

    public func launch(_ kernel: String, grid: (x: Int, y: Int, z: Int), sharedBytes: Int,
                       _ arguments: [KernelArgument]) throws(GPUCallError) {
        guard let function = functions[kernel] else {
            throw GPUCallError(runtime: "cuda", call: "cuLaunchKernel", code: -1, message: "no kernel named \(kernel)")
        }
        try makeCurrent()
        let status = withKernelParameters(arguments) { parameters in
            driver.cuLaunchKernel(function, UInt32(grid.x), UInt32(grid.y), UInt32(grid.z), UInt32(EncoderKernels.blockThreads), 1, 1,
                                  UInt32(sharedBytes), stream, parameters, nil)
        }
        try driver.check(status, "cuLaunchKernel(\(kernel))")
    }

    public func gemm(_ shape: GEMMShape, a: UInt64, b: UInt64, c: UInt64) throws(GPUCallError) {
        try makeCurrent()
        var alpha = shape.alpha, beta = shape.beta
        let opA = shape.transposeA ? CUBLASAPI.operationTranspose : CUBLASAPI.operationNone
        let opB = shape.transposeB ? CUBLASAPI.operationTranspose : CUBLASAPI.operationNone
        if shape.batch == 1 {
            try blas.check(blas.cublasSgemm(handle, opA, opB, Int32(shape.m), Int32(shape.n), Int32(shape.k), &alpha, a, Int32(shape.lda),
                                            b, Int32(shape.ldb), &beta, c, Int32(shape.ldc)), "cublasSgemm_v2")
        } else {
            try blas.check(blas.cublasSgemmStridedBatched(
                handle, opA, opB, Int32(shape.m), Int32(shape.n), Int32(shape.k), &alpha, a, Int32(shape.lda), Int64(shape.strideA),
                b, Int32(shape.ldb), Int64(shape.strideB), &beta, c, Int32(shape.ldc), Int64(shape.strideC), Int32(shape.batch)),
                "cublasSgemmStridedBatched")
        }
    }

    public func gemmHalf(_ shape: GEMMShape, a: UInt64, b: UInt64, c: UInt64) throws(GPUCallError) {
        try makeCurrent()
        var alpha = shape.alpha, beta = shape.beta
        let opA = shape.transposeA ? CUBLASAPI.operationTranspose : CUBLASAPI.operationNone
        let opB = shape.transposeB ? CUBLASAPI.operationTranspose : CUBLASAPI.operationNone
        try blas.check(blas.cublasGemmEx(
            handle, opA, opB, Int32(shape.m), Int32(shape.n), Int32(shape.k), &alpha, a, CUBLASAPI.typeHalf, Int32(shape.lda),
            b, CUBLASAPI.typeHalf, Int32(shape.ldb), &beta, c, CUBLASAPI.typeFloat, Int32(shape.ldc), CUBLASAPI.computeFloat,
            CUBLASAPI.algorithmDefault), "cublasGemmEx")
    }

    public func memory() throws(GPUCallError) -> (free: Int, total: Int) {
        try makeCurrent()
        var free = 0, total = 0
        try driver.check(driver.cuMemGetInfo(&free, &total), "cuMemGetInfo_v2")
        return (free, total)
    }
}
