import Foundation
import GPURuntime

/// The BERT forward pass on a GPU (CUDA or HIP, through ``ComputeDevice``): weights uploaded
/// once, the matrix products through cuBLAS / hipBLAS, LayerNorm, GELU, attention and pooling as
/// the ``EncoderKernels``. fp32 throughout, so its vectors match the CPU's to float rounding.
///
/// A batch is sorted by length and cut into passes of at most `maxTokensPerPass` padded tokens;
/// sequences of like length share a pass, so little work goes to padding.
///
/// `@unchecked Sendable`: the scratch buffers, the one thing that changes, and every use of the
/// device are behind `lock`; the weights in device memory are written once, in `init`.
public final class GPUBackend: EmbeddingBackend, @unchecked Sendable {
    /// "cuda" or "hip", with "-fp16" in the fp16 mode.
    public var name: String { device.runtime.rawValue + (precision == .fp16 ? "-fp16" : "") }
    public let device: any ComputeDevice
    public let configuration: ModelConfiguration
    public let precision: GPUPrecision
    /// The most padded tokens (sequences × longest) one pass holds.
    public let maxTokensPerPass: Int
    private let model: DeviceModel
    private let lock = NSLock()
    private var scratch: DeviceScratch

    /// Uploads `weights` to `device`.
    ///
    /// - Throws: ``GPUBackendError`` for a model the kernels do not cover (rows wider than
    ///   ``EncoderKernels/maxWidth``), or the device's error.
    public init(weights: BertWeights, device: any ComputeDevice, precision: GPUPrecision = .fp32,
                maxTokensPerPass: Int = 16_384) throws {
        let c = weights.configuration
        guard c.hiddenSize <= EncoderKernels.maxWidth, c.hiddenSize % c.headCount == 0 else {
            throw GPUBackendError("a hidden size of \(c.hiddenSize) is outside what the GPU kernels handle (at most \(EncoderKernels.maxWidth))")
        }
        self.device = device
        self.configuration = c
        self.precision = precision
        self.maxTokensPerPass = max(maxTokensPerPass, c.maxSequenceLength)
        model = try DeviceModel(weights: weights, device: device, halfWeights: precision == .fp16)
        scratch = DeviceScratch(device: device)
    }

    public func embed(tokenized sequences: [[Int32]], work: EmbeddingWork) throws -> [[Float]] {
        try EmbeddingInputError.validate(sequences, configuration: configuration)
        lock.lock()
        defer { lock.unlock() }
        var results = [[Float]](repeating: [], count: sequences.count)
        let order = sequences.indices.sorted { sequences[$0].count > sequences[$1].count }
        var start = 0
        while start < order.count {
            // Longest first, so a pass's padded size is its first sequence's length times its count.
            // Queries get a pass each: the BLAS library may pick other kernels for other batch
            // sizes, and a query's vector must not depend on the queries beside it.
            let longest = sequences[order[start]].count
            let count = work == .queries ? 1 : min(order.count - start, max(1, maxTokensPerPass / longest))
            let pass = order[start..<start + count]
            let vectors = try runPass(pass.map { sequences[$0] }, length: longest, work: work)
            for (offset, index) in pass.enumerated() { results[index] = vectors[offset] }
            start += count
        }
        return results
    }

    /// One pass of `sequences` padded to `length`, pooled as `work` is.
    private func runPass(_ sequences: [[Int32]], length: Int, work: EmbeddingWork) throws -> [[Float]] {
        let c = configuration
        let h = c.hiddenSize, batch = sequences.count, rows = batch * length
        let headDim = h / c.headCount
        try scratch.reserve(rows: rows, batch: batch, hidden: h, intermediate: c.intermediateSize, half: precision == .fp16)
        // The ids, then the position row each reads (see `PositionCounting`), in one upload.
        var ids = [Int32](repeating: 0, count: 2 * rows)
        for (index, sequence) in sequences.enumerated() {
            for (position, id) in sequence.enumerated() { ids[index * length + position] = id }
            c.positions.forEachRow(of: sequence) { position, row in ids[rows + index * length + position] = Int32(row) }
        }
        let positions = scratch.ids + UInt64(rows * 4)
        let lengths = sequences.map { Int32($0.count) }
        try ids.withUnsafeBytes { try device.upload($0, to: scratch.ids) }
        try lengths.withUnsafeBytes { try device.upload($0, to: scratch.lengths) }
        let L = Int32(length), width = Int32(h), epsilon = c.layerNormEpsilon
        let threads = EncoderKernels.blockThreads
        func elementwise(_ count: Int) -> (x: Int, y: Int, z: Int) { ((count + threads - 1) / threads, 1, 1) }
        /// output = input · weightᵀ; in the fp16 mode through a half copy of the input.
        func linear(_ weight: DeviceModel.Matrix, _ input: UInt64, inputs: Int, outputs: Int, into output: UInt64) throws {
            let shape = GEMMShape.linear(rows: rows, inputs: inputs, outputs: outputs)
            switch weight {
            case .single(let matrix):
                try device.gemm(shape, a: matrix, b: input, c: output)
            case .half(let matrix):
                try device.launch("rag_to_half", grid: elementwise(rows * inputs), sharedBytes: 0, [
                    .pointer(input), .pointer(scratch.half), .int64(Int64(rows * inputs)),
                ])
                try device.gemmHalf(shape, a: matrix, b: scratch.half, c: output)
            }
        }

        try device.launch("rag_embed_layernorm", grid: (length, batch, 1), sharedBytes: 0, [
            .pointer(scratch.ids), .pointer(positions), .pointer(scratch.lengths), .int32(L), .pointer(model.word),
            .pointer(model.position),
            .pointer(model.tokenType), .pointer(model.normWeight), .pointer(model.normBias), .float(epsilon), .int32(width),
            .pointer(scratch.hidden),
        ])
        for layer in model.layers {
            try linear(layer.qkvWeight, scratch.hidden, inputs: h, outputs: 3 * h, into: scratch.qkv)
            try device.launch("rag_add_bias", grid: elementwise(rows * 3 * h), sharedBytes: 0, [
                .pointer(scratch.qkv), .pointer(layer.qkvBias), .int32(Int32(3 * h)), .int64(Int64(rows * 3 * h)),
            ])
            try device.launch("rag_attention", grid: (length, c.headCount, batch), sharedBytes: (length + headDim) * 4, [
                .pointer(scratch.qkv), .pointer(scratch.lengths), .int32(L), .int32(Int32(c.headCount)), .int32(Int32(headDim)),
                .float(1 / Float(headDim).squareRoot()), .pointer(scratch.context),
            ])
            try linear(layer.attentionOutputWeight, scratch.context, inputs: h, outputs: h, into: scratch.projected)
            try device.launch("rag_bias_residual_layernorm", grid: (rows, 1, 1), sharedBytes: 0, [
                .pointer(scratch.projected), .pointer(layer.attentionOutputBias), .pointer(scratch.hidden),
                .pointer(layer.attentionNormWeight), .pointer(layer.attentionNormBias), .float(epsilon), .int32(width),
            ])
            try linear(layer.intermediateWeight, scratch.hidden, inputs: h, outputs: c.intermediateSize, into: scratch.intermediate)
            try device.launch("rag_bias_gelu", grid: elementwise(rows * c.intermediateSize), sharedBytes: 0, [
                .pointer(scratch.intermediate), .pointer(layer.intermediateBias), .int32(Int32(c.intermediateSize)),
                .int64(Int64(rows * c.intermediateSize)),
            ])
            try linear(layer.outputWeight, scratch.intermediate, inputs: c.intermediateSize, outputs: h, into: scratch.projected)
            try device.launch("rag_bias_residual_layernorm", grid: (rows, 1, 1), sharedBytes: 0, [
                .pointer(scratch.projected), .pointer(layer.outputBias), .pointer(scratch.hidden),
                .pointer(layer.outputNormWeight), .pointer(layer.outputNormBias), .float(epsilon), .int32(width),
            ])
        }
        try device.launch("rag_pool", grid: (batch, 1, 1), sharedBytes: 0, [
            .pointer(scratch.hidden), .pointer(scratch.lengths), .int32(L), .int32(width), .int32(Self.poolingMode(c.pooling)),
            .int32(Int32(c.prompts.tokensExcludedFromPooling(for: work))), .int32(c.normalize ? 1 : 0), .pointer(scratch.pooled),
        ])
        var pooled = [Float](repeating: 0, count: batch * h)
        try pooled.withUnsafeMutableBytes { try device.download(from: scratch.pooled, into: $0) }
        return (0..<batch).map { Array(pooled[$0 * h..<($0 + 1) * h]) }
    }
}

extension GPUBackend {
    /// `pooling` as `rag_pool`'s `mode` argument.
    static func poolingMode(_ pooling: PoolingMode) -> Int32 {
        switch pooling {
        case .mean: 0
        case .cls: 1
        case .max: 2
        case .meanSqrtLength: 3
        case .weightedMean: 4
        case .lastToken: 5
        }
    }
}

/// A model the GPU kernels cannot run, in words.
public struct GPUBackendError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// How the GPU encoder's matrix products run.
public enum GPUPrecision: String, Sendable, CaseIterable {
    /// Single precision throughout: the CPU's vectors to float rounding.
    case fp32
    /// Weights and matrix-product inputs in IEEE half precision, accumulated in single precision
    /// (tensor cores); everything else in single. Serves only if its vectors stay within
    /// cosine 0.9999 of the CPU's.
    case fp16
}

/// The weights in device memory, freed with it.
private final class DeviceModel {
    /// A weight matrix, in the precision of the backend's mode.
    enum Matrix {
        case single(UInt64)
        case half(UInt64)
    }

    struct Layer {
        var qkvWeight: Matrix, qkvBias: UInt64
        var attentionOutputWeight: Matrix, attentionOutputBias: UInt64
        var attentionNormWeight: UInt64, attentionNormBias: UInt64
        var intermediateWeight: Matrix, intermediateBias: UInt64
        var outputWeight: Matrix, outputBias: UInt64
        var outputNormWeight: UInt64, outputNormBias: UInt64
    }

    let device: any ComputeDevice
    private var allocations: [UInt64] = []
    var word: UInt64 = 0, position: UInt64 = 0, tokenType: UInt64 = 0, normWeight: UInt64 = 0, normBias: UInt64 = 0
    var layers: [Layer] = []

    init(weights: BertWeights, device: any ComputeDevice, halfWeights: Bool) throws {
        self.device = device
        func matrix(_ tensor: FloatTensor) throws -> Matrix {
            // Each mode reads only its own copy, so only that one goes to the device.
            halfWeights ? .half(try uploadHalf(tensor)) : .single(try upload(tensor))
        }
        word = try upload(weights.wordEmbeddings)
        position = try upload(weights.positionEmbeddings)
        tokenType = try upload(weights.tokenTypeEmbeddings)
        normWeight = try upload(weights.embeddingNormWeight)
        normBias = try upload(weights.embeddingNormBias)
        for layer in weights.layers {
            layers.append(Layer(
                qkvWeight: try matrix(layer.qkvWeight), qkvBias: try upload(layer.qkvBias),
                attentionOutputWeight: try matrix(layer.attentionOutputWeight),
                attentionOutputBias: try upload(layer.attentionOutputBias),
                attentionNormWeight: try upload(layer.attentionNormWeight), attentionNormBias: try upload(layer.attentionNormBias),
                intermediateWeight: try matrix(layer.intermediateWeight), intermediateBias: try upload(layer.intermediateBias),
                outputWeight: try matrix(layer.outputWeight), outputBias: try upload(layer.outputBias),
                outputNormWeight: try upload(layer.outputNormWeight), outputNormBias: try upload(layer.outputNormBias)))
        }
    }

    deinit { allocations.forEach(device.release) }

    private func upload(_ tensor: FloatTensor) throws -> UInt64 {
        let address = try device.allocate(bytes: tensor.count * 4)
        allocations.append(address)
        try device.upload(UnsafeRawBufferPointer(start: tensor.pointer, count: tensor.count * 4), to: address)
        return address
    }

    /// `tensor` rounded to half precision (to nearest even, as the device's conversion does).
    private func uploadHalf(_ tensor: FloatTensor) throws -> UInt64 {
        let bits = (0..<tensor.count).map { Float16(tensor.pointer[$0]).bitPattern }
        let address = try device.allocate(bytes: tensor.count * 2)
        allocations.append(address)
        try bits.withUnsafeBytes { try device.upload($0, to: address) }
        return address
    }
}

/// Activations for one pass, grown on demand and kept: allocating per pass would cost more than a
/// short query's forward pass.
private struct DeviceScratch {
    let device: any ComputeDevice
    private(set) var rows = 0, batch = 0
    var ids: UInt64 = 0, lengths: UInt64 = 0, hidden: UInt64 = 0, qkv: UInt64 = 0, context: UInt64 = 0
    var projected: UInt64 = 0, intermediate: UInt64 = 0, pooled: UInt64 = 0
    /// Half copies of a matrix product's input (the widest, the intermediate rows), in the fp16 mode.
    var half: UInt64 = 0
    private var halfReserved = false
    private var owner = Owner()

    init(device: any ComputeDevice) {
        self.device = device
    }

    /// Frees the buffers when the backend goes (a struct has no deinit).
    private final class Owner {
        var release: () -> Void = {}
        deinit { release() }
    }

    mutating func reserve(rows needed: Int, batch neededBatch: Int, hidden h: Int, intermediate width: Int, half wantsHalf: Bool) throws {
        guard needed > rows || neededBatch > batch || (wantsHalf && !halfReserved) else { return }
        let device = self.device
        owner.release()
        owner.release = {}
        let newRows = max(needed, rows), newBatch = max(neededBatch, batch)
        var taken: [UInt64] = []
        func take(_ bytes: Int) throws -> UInt64 {
            let address = try device.allocate(bytes: bytes)
            taken.append(address)
            return address
        }
        do {
            // The token ids, then each token's position row.
            ids = try take(newRows * 2 * 4)
            lengths = try take(newBatch * 4)
            hidden = try take(newRows * h * 4)
            qkv = try take(newRows * 3 * h * 4)
            context = try take(newRows * h * 4)
            projected = try take(newRows * h * 4)
            intermediate = try take(newRows * width * 4)
            pooled = try take(newBatch * h * 4)
            half = wantsHalf ? try take(newRows * max(width, h) * 2) : 0
        } catch {
            taken.forEach(device.release)
            rows = 0
            batch = 0
            halfReserved = false
            throw error
        }
        owner.release = { taken.forEach(device.release) }
        rows = newRows
        batch = newBatch
        halfReserved = wantsHalf
    }
}
