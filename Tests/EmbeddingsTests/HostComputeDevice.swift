import COpenBLAS
import Foundation
import GPURuntime
import Synchronization

/// A ``ComputeDevice`` that runs on the CPU: device memory is host memory, the matrix products go
/// to OpenBLAS and each encoder kernel is re-enacted in Swift from its CUDA source's definition.
///
/// It lets the GPU encoder's orchestration (buffer sizes, matrix shapes and strides, kernel grids
/// and argument lists) be checked against the CPU encoder where no GPU exists. Every launch's
/// arguments are checked against the parameter list parsed from ``EncoderKernels/source``, so an
/// argument list that drifts from the kernel it calls fails here.
final class HostComputeDevice: ComputeDevice, @unchecked Sendable {
    let runtime = GPURuntimeKind.cuda
    let info = GPUDeviceInfo(name: "host", architecture: "host", memoryBytes: 0, computeUnits: 1, warpSize: 32,
                             driverVersion: "0", compilerVersion: nil, libraries: [])
    let kernelBuild = KernelBuilder.Built(binary: [], entry: "host", fromCache: false, seconds: 0)
    private let allocations = Mutex<[UInt64: Int]>([:])
    /// Each kernel's parameter kinds, from the source.
    let signatures = HostComputeDevice.parseSignatures(EncoderKernels.source)
    /// Kernels launched, by name, for tests that want to see the work happen.
    let launches = Mutex<[String: Int]>([:])

    func allocate(bytes: Int) throws(GPUCallError) -> UInt64 {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        // Fresh device memory holds garbage; NaNs make reading it before writing it visible.
        pointer.initializeMemory(as: UInt8.self, repeating: 0xFF, count: bytes)
        let address = UInt64(UInt(bitPattern: pointer))
        allocations.withLock { $0[address] = bytes }
        return address
    }

    var liveAllocations: Int { allocations.withLock { $0.count } }

    func release(_ address: UInt64) {
        guard allocations.withLock({ $0.removeValue(forKey: address) }) != nil else { return }
        UnsafeMutableRawPointer(bitPattern: UInt(address))!.deallocate()
    }

    func upload(_ source: UnsafeRawBufferPointer, to address: UInt64) throws(GPUCallError) {
        try checkRange(address, source.count)
        raw(address).copyMemory(from: source.baseAddress!, byteCount: source.count)
    }

    func download(from address: UInt64, into target: UnsafeMutableRawBufferPointer) throws(GPUCallError) {
        try checkRange(address, target.count)
        target.baseAddress!.copyMemory(from: raw(address), byteCount: target.count)
    }

    func memory() throws(GPUCallError) -> (free: Int, total: Int) { (1 << 30, 1 << 30) }

    func gemm(_ s: GEMMShape, a: UInt64, b: UInt64, c: UInt64) throws(GPUCallError) {
        for index in 0..<s.batch {
            cblas_sgemm(CblasColMajor, s.transposeA ? CblasTrans : CblasNoTrans, s.transposeB ? CblasTrans : CblasNoTrans,
                        Int32(s.m), Int32(s.n), Int32(s.k), s.alpha, floats(a) + index * s.strideA, Int32(s.lda),
                        floats(b) + index * s.strideB, Int32(s.ldb), s.beta, floats(c) + index * s.strideC, Int32(s.ldc))
        }
    }

    func gemmHalf(_ s: GEMMShape, a: UInt64, b: UInt64, c: UInt64) throws(GPUCallError) {
        guard s.batch == 1 else { throw failure("gemmHalf takes no batch") }
        // Half inputs widened to single, as the tensor cores do before accumulating in single.
        func widened(_ address: UInt64, _ count: Int) -> [Float] {
            let bits = raw(address).assumingMemoryBound(to: UInt16.self)
            return (0..<count).map { Float(Float16(bitPattern: bits[$0])) }
        }
        let left = widened(a, (s.transposeA ? s.m : s.k) * s.lda)
        let right = widened(b, (s.transposeB ? s.k : s.n) * s.ldb)
        cblas_sgemm(CblasColMajor, s.transposeA ? CblasTrans : CblasNoTrans, s.transposeB ? CblasTrans : CblasNoTrans,
                    Int32(s.m), Int32(s.n), Int32(s.k), s.alpha, left, Int32(s.lda), right, Int32(s.ldb), s.beta,
                    floats(c), Int32(s.ldc))
    }

    func launch(_ kernel: String, grid: (x: Int, y: Int, z: Int), sharedBytes: Int, _ arguments: [KernelArgument]) throws(GPUCallError) {
        guard let kinds = signatures[kernel] else { throw failure("no kernel named \(kernel) in the source") }
        guard kinds == arguments.map(Self.kind) else {
            throw failure("\(kernel) takes (\(kinds.joined(separator: ", "))) but was given (\(arguments.map(Self.kind).joined(separator: ", ")))")
        }
        launches.withLock { $0[kernel, default: 0] += 1 }
        let p = { (i: Int) -> UnsafeMutablePointer<Float> in
            guard case .pointer(let address) = arguments[i] else { fatalError() }
            return self.floats(address)
        }
        let ints = { (i: Int) -> UnsafeMutablePointer<Int32> in
            guard case .pointer(let address) = arguments[i] else { fatalError() }
            return UnsafeMutableRawPointer(bitPattern: UInt(address))!.assumingMemoryBound(to: Int32.self)
        }
        let int = { (i: Int) -> Int in
            switch arguments[i] {
            case .int32(let value): Int(value)
            case .int64(let value): Int(value)
            default: fatalError()
            }
        }
        let float = { (i: Int) -> Float in
            guard case .float(let value) = arguments[i] else { fatalError() }
            return value
        }
        switch kernel {
        case "rag_embed_layernorm":
            let (ids, rows, lengths, L, word, position, type, gamma, beta, epsilon, width, out) =
                (ints(0), ints(1), ints(2), int(3), p(4), p(5), p(6), p(7), p(8), float(9), int(10), p(11))
            for b in 0..<grid.y {
                for i in 0..<grid.x {
                    let row = out + (b * L + i) * width
                    guard i < Int(lengths[b]) else {
                        row.update(repeating: 0, count: width)
                        continue
                    }
                    let id = Int(ids[b * L + i]), place = Int(rows[b * L + i])
                    let values = (0..<width).map { word[id * width + $0] + position[place * width + $0] + type[$0] }
                    Self.layerNorm(values, gamma: gamma, beta: beta, epsilon: epsilon, into: row)
                }
            }
        case "rag_add_bias", "rag_bias_gelu":
            let (x, bias, width, count) = (p(0), p(1), int(2), int(3))
            try requireThreads(count, grid)
            for index in 0..<count {
                let v = x[index] + bias[index % width]
                x[index] = kernel == "rag_add_bias" ? v : 0.5 * v * (1 + erff(v * 0.70710678118654752))
            }
        case "rag_to_half":
            let (x, count) = (p(0), int(2))
            guard case .pointer(let target) = arguments[1] else { fatalError() }
            try requireThreads(count, grid)
            let half = raw(target).assumingMemoryBound(to: UInt16.self)
            for index in 0..<count { half[index] = Float16(x[index]).bitPattern }
        case "rag_bias_residual_layernorm":
            let (x, bias, residual, gamma, beta, epsilon, width) = (p(0), p(1), p(2), p(3), p(4), float(5), int(6))
            for r in 0..<grid.x {
                let values = (0..<width).map { x[r * width + $0] + bias[$0] + residual[r * width + $0] }
                Self.layerNorm(values, gamma: gamma, beta: beta, epsilon: epsilon, into: residual + r * width)
            }
        case "rag_attention":
            let (qkv, lengths, L, heads, headDim, scale, out) = (p(0), ints(1), int(2), int(3), int(4), float(5), p(6))
            guard sharedBytes >= (L + headDim) * 4, grid.x == L, grid.y == heads else { throw failure("rag_attention's launch shape") }
            let width = heads * headDim, stride = 3 * width
            for b in 0..<grid.z {
                let length = Int(lengths[b]), base = qkv + b * L * stride
                for h in 0..<heads {
                    for i in 0..<L {
                        let target = out + (b * L + i) * width + h * headDim
                        guard i < length else {
                            target.update(repeating: 0, count: headDim)
                            continue
                        }
                        var scores = (0..<length).map { j in
                            (0..<headDim).reduce(Float(0)) { $0 + base[i * stride + h * headDim + $1] * base[j * stride + width + h * headDim + $1] } * scale
                        }
                        let best = scores.max()!
                        scores = scores.map { expf($0 - best) }
                        let total = scores.reduce(0, +)
                        for d in 0..<headDim {
                            target[d] = (0..<length).reduce(Float(0)) { $0 + scores[$1] * base[$1 * stride + 2 * width + h * headDim + d] } / total
                        }
                    }
                }
            }
        case "rag_pool":
            let (hidden, lengths, L, width, mode, excluded, normalize, out) =
                (p(0), ints(1), int(2), int(3), int(4), int(5), int(6) == 1, p(7))
            for b in 0..<grid.x {
                let length = Int(lengths[b])
                let first = min(excluded, length - 1)
                let value = { (i: Int, c: Int) in hidden[(b * L + i) * width + c] }
                let pooled: [Float] = (0..<width).map { c in
                    switch mode {
                    case 1: return value(first, c)
                    case 5: return value(length - 1, c)
                    case 2: return (first..<length).reduce(-Float.greatestFiniteMagnitude) { max($0, value($1, c)) }
                    default:
                        var (sum, total) = (Float(0), Float(0))
                        for i in first..<length {
                            let weight: Float = mode == 4 ? Float(i + 1) : 1
                            sum += weight * value(i, c)
                            total += weight
                        }
                        let count = Float(length - first)
                        return mode == 0 ? sum / count : mode == 3 ? sum / count.squareRoot() : sum / total
                    }
                }
                let inverse = normalize ? 1 / max(pooled.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12) : 1
                for c in 0..<width { out[b * width + c] = pooled[c] * inverse }
            }
        default:
            throw failure("the host device has no emulation of \(kernel)")
        }
    }

    // MARK: - helpers

    private func requireThreads(_ count: Int, _ grid: (x: Int, y: Int, z: Int)) throws(GPUCallError) {
        guard grid.x * EncoderKernels.blockThreads >= count else { throw failure("the grid covers fewer threads than values") }
    }

    private static func layerNorm(_ values: [Float], gamma: UnsafeMutablePointer<Float>, beta: UnsafeMutablePointer<Float>,
                                  epsilon: Float, into out: UnsafeMutablePointer<Float>) {
        let n = Float(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let inverse = 1 / (variance + epsilon).squareRoot()
        for c in values.indices { out[c] = (values[c] - mean) * inverse * gamma[c] + beta[c] }
    }

    private func raw(_ address: UInt64) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: UInt(address))! }
    private func floats(_ address: UInt64) -> UnsafeMutablePointer<Float> { raw(address).assumingMemoryBound(to: Float.self) }

    private func checkRange(_ address: UInt64, _ count: Int) throws(GPUCallError) {
        let inside = allocations.withLock { $0.contains { address >= $0.key && address + UInt64(count) <= $0.key + UInt64($0.value) } }
        guard inside else { throw failure("a copy of \(count) bytes outside any allocation") }
    }

    private func failure(_ message: String) -> GPUCallError {
        GPUCallError(runtime: "host", call: "launch", code: -1, message: message)
    }

    static func kind(_ argument: KernelArgument) -> String {
        switch argument {
        case .pointer: "pointer"
        case .int32: "int32"
        case .int64: "int64"
        case .float: "float"
        }
    }

    /// `extern "C" __global__ void name(type a, type b, …)` → the parameters' kinds.
    static func parseSignatures(_ source: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for part in source.components(separatedBy: "extern \"C\" __global__ void ").dropFirst() {
            guard let open = part.firstIndex(of: "("), let close = part.firstIndex(of: ")") else { continue }
            let name = String(part[..<open])
            let parameters = part[part.index(after: open)..<close].split(separator: ",").map { parameter -> String in
                let text = parameter.trimmingCharacters(in: .whitespacesAndNewlines)
                if text.contains("*") { return "pointer" }
                if text.hasPrefix("unsigned short") { return "unknown: \(text)" }
                if text.hasPrefix("long") { return "int64" }
                if text.hasPrefix("int") { return "int32" }
                if text.hasPrefix("float") { return "float" }
                return "unknown: \(text)"
            }
            result[name] = parameters
        }
        return result
    }
}
