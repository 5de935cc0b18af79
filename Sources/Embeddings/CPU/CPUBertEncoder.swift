import COpenBLAS
import CKernels
import Foundation

/// The BERT forward pass on the CPU: OpenBLAS `cblas_sgemm` for the matrix products of batches
/// (unless its kernels are narrower than CKernels's packed kernel, see ``BatchKernel``), one
/// CKernels call per head of each sequence for attention (`CKernels_attention`), the vectorised
/// kernels of ``VectorMath`` (and CKernels) for the rest.
///
/// Sequences are *packed*, not padded: the tokens of every sequence in a pass are stacked into one
/// `[tokens × hidden]` matrix for the dense layers, and attention runs per sequence. No compute is
/// spent on padding, no mask is needed, and a text's embedding cannot depend on its neighbours.
///
/// Parallelism is ours, not OpenBLAS's: OpenBLAS is set to one thread and each step is split
/// across the `threadCount` threads of a ``WorkerPool`` (OpenBLAS's products by rows for large
/// passes, by output columns for single queries; the packed kernel's by output columns). That
/// keeps the bias, GELU and LayerNorm work on the same threads and caches as the product that fed
/// it, and avoids OpenBLAS's spinning workers competing with ours between calls. A batch of queries with at least two a thread is instead cut
/// into one group a thread, each group a pass of its own on one thread (``split(_:threads:maxImbalance:)``).
///
/// Passes of at most ``smallPassRows`` tokens (a single query) use ``PackedLayerWeights`` and the
/// CKernels small-row kernel instead: OpenBLAS repacks all 42 MB of weights on every call, which for a
/// handful of rows costs more than the arithmetic (a third of a query's time, measured).
///
/// Row-stable passes (queries: ``EmbeddingWork/queries``) use the packed kernel whatever their size.
/// It computes each output row with the same sequence of operations however many rows share the
/// call, as does everything else in the pass (attention per sequence, LayerNorm and bias per row),
/// so a query's vector is the same bit for bit alone or batched with other clients' queries.
/// OpenBLAS may block a product differently for another row count. The price is small: on 1,024-row
/// passes the packed kernel ran 5–8% slower than OpenBLAS's kernels of the same vector width, which
/// is why other batches (passages) keep OpenBLAS, unless the packed kernel's vectors are wider than
/// those of the kernels OpenBLAS runs (``BatchKernel``).
///
/// Several callers may each run query passes on one thread of their own, side by side, through
/// ``encodeQueries(_:lane:)``: a server with queries queued keeps every core busy that way, each
/// pass handing nothing over between threads.
///
/// `@unchecked Sendable`: the weights are immutable, and each lane's scratch memory is only touched
/// while that lane's lock is held: `encode(_:work:)` holds every lock (its passes spread over all
/// threads, and the passes of a split batch use the lanes), `encodeQueries(_:lane:)` its lane's.
final class CPUBertEncoder: @unchecked Sendable {
    /// Which kernel computes the products of passes that need not be row-stable (passages) and
    /// hold more than ``smallPassRows`` tokens.
    enum BatchKernel: Sendable {
        /// OpenBLAS's sgemm.
        case openBLAS
        /// The packed kernel, which queries use.
        case packed
        /// The packed kernel where its vectors are wider than those of the kernel family OpenBLAS
        /// runs (an AVX-512 CPU whose OpenBLAS was told to use its AVX2 kernels, as with
        /// `OPENBLAS_CORETYPE=Haswell`: twice the rate on a Zen 5 host), else OpenBLAS.
        case widest
    }

    let weights: BertWeights
    let threadCount: Int
    /// The layers' matrices in CKernels's panel layout; nil where the CPU lacks AVX2 and FMA.
    let packedLayers: [PackedLayerWeights]?
    /// Passes with at most this many tokens use the packed kernel whatever OpenBLAS runs: it was
    /// measured faster than OpenBLAS up to 64 rows, where OpenBLAS's repacking of the weights
    /// outweighs the arithmetic; the bound is kept below that.
    static let smallPassRows = 32
    /// Whether batch passes (see ``BatchKernel``) use the packed kernel.
    let batchesUsePackedKernel: Bool
    /// Upper bound on the tokens stacked into one pass: large enough for efficient GEMMs, small
    /// enough that the scratch buffers (about 15 KB per token) stay in the tens of megabytes.
    let maxTokensPerPass: Int
    /// Held by a pass over every thread (with every lane's lock).
    private let lock = NSLock()
    /// The scratch and threads of a pass that spreads each step over every thread.
    private let whole: PassLane
    /// One lane per thread for the passes of a split batch (see ``split(_:threads:maxImbalance:)``)
    /// and for callers' one-thread passes (``encodeQueries(_:lane:)``): each its own scratch, each
    /// step run on the one thread that runs the lane's pass.
    private let split: [PassLane]
    /// `laneLocks[i]` is held while `split[i]` runs a pass.
    private let laneLocks: [NSLock]

    /// Whether the last layer computes only the rows the pooling reads, where it reads one row per
    /// sequence (CLS or last-token pooling).
    let lastLayerPooledRowsOnly: Bool

    /// - Parameter smallRowKernel: use the packed kernel for short passes where the CPU allows
    ///   (tests turn it off to check the OpenBLAS path gives the same vectors).
    /// - Parameter lastLayerPooledRowsOnly: see the property (tests turn it off to check that the
    ///   vectors are the same).
    /// - Parameter batchKernel: see ``BatchKernel`` (tests choose each to compare them).
    init(weights: BertWeights, threadCount: Int, maxTokensPerPass: Int = 2048, smallRowKernel: Bool = true,
         lastLayerPooledRowsOnly: Bool = true, batchKernel: BatchKernel = .widest) {
        self.weights = weights
        self.lastLayerPooledRowsOnly = lastLayerPooledRowsOnly
        self.threadCount = max(1, threadCount)
        self.maxTokensPerPass = max(maxTokensPerPass, weights.configuration.maxPositions)
        openblas_set_num_threads(1)
        let pool = WorkerPool(threadCount: self.threadCount)
        whole = PassLane(pool: pool)
        // A pool of one thread has no threads of its own: it runs each step where it is called.
        let onCaller = WorkerPool(threadCount: 1)
        split = self.threadCount > 1 ? (0..<self.threadCount).map { _ in PassLane(pool: onCaller) } : []
        laneLocks = split.map { _ in NSLock() }
        packedLayers = smallRowKernel ? PackedLayerWeights.pack(weights, pool: pool) : nil
        switch batchKernel {
        case .openBLAS: batchesUsePackedKernel = false
        case .packed: batchesUsePackedKernel = packedLayers != nil
        case .widest:
            batchesUsePackedKernel = packedLayers != nil
                && Self.packedKernelIsWider(packedLevel: Int(CKernels_isa()), blasLevel: BLASKernels.vectorLevel)
        }
    }

    /// Whether the packed kernel, at CKernels's level `packedLevel`, uses wider vectors than
    /// OpenBLAS's kernel family at `blasLevel` (nil: a family not known, which is left to OpenBLAS).
    static func packedKernelIsWider(packedLevel: Int, blasLevel: Int?) -> Bool {
        guard let blasLevel else { return false }
        return packedLevel > blasLevel
    }

    /// The packed kernel batch passes use, for reports ("packed AVX-512"); nil when they use OpenBLAS.
    var packedBatchKernel: String? {
        guard batchesUsePackedKernel else { return nil }
        return CKernels_isa() >= 2 ? "packed AVX-512" : "packed AVX2"
    }

    /// Sentence vectors for already tokenised sequences (each at most `maxPositions` long, at
    /// least one token, starting with `work`'s prompt), in input order, each step of a pass spread
    /// over every thread. Queries are row-stable: each vector does not depend on the other
    /// sequences of the call (see the type's notes), where the packed kernel can run.
    func encode(_ sequences: [[Int32]], work: EmbeddingWork = .passages) -> [[Float]] {
        let rowStable = work == .queries
        let pooledFrom = weights.configuration.prompts.tokensExcludedFromPooling(for: work)
        lock.lock()
        laneLocks.forEach { $0.lock() }
        defer {
            laneLocks.reversed().forEach { $0.unlock() }
            lock.unlock()
        }
        return inPasses(sequences) { pass, tokens in
            if rowStable, packedLayers != nil, let groups = Self.split(pass.map { $0.count }, threads: split.count) {
                return runSplit(groups, of: pass, pooledFrom: pooledFrom)
            }
            return runPass(pass, tokenCount: tokens, rowStable: rowStable, pooledFrom: pooledFrom, on: whole)
        }
    }

    /// How many callers may run ``encodeQueries(_:lane:)`` at once: one a thread, where queries
    /// run through the packed kernel; else 1 (a CPU without AVX2 and FMA runs their products
    /// through OpenBLAS, and one-thread passes were not measured against passes over every
    /// thread there).
    var lanes: Int { packedLayers != nil ? max(split.count, 1) : 1 }

    /// `encode(_:work: .queries)`, every pass on the calling thread alone, in `lane`'s scratch
    /// (`0..<lanes`): calls in different lanes run side by side, and a call waits while a pass
    /// over every thread runs. The vectors are the same bit for bit.
    func encodeQueries(_ sequences: [[Int32]], lane: Int) -> [[Float]] {
        precondition((0..<lanes).contains(lane), "lane \(lane) outside 0..<\(lanes)")
        guard lanes > 1 else { return encode(sequences, work: .queries) }
        let pooledFrom = weights.configuration.prompts.tokensExcludedFromPooling(for: .queries)
        laneLocks[lane].lock()
        defer { laneLocks[lane].unlock() }
        return inPasses(sequences) { pass, tokens in
            runPass(pass, tokenCount: tokens, rowStable: true, pooledFrom: pooledFrom, on: split[lane])
        }
    }

    /// `sequences` cut into passes of at most ``maxTokensPerPass`` tokens, each computed by `run`
    /// (a pass's sequences and its token count), the vectors back in input order.
    private func inPasses(_ sequences: [[Int32]], _ run: (_ pass: [[Int32]], _ tokens: Int) -> [[Float]]) -> [[Float]] {
        var results = [[Float]](repeating: [], count: sequences.count)
        // Longest first: the passes then hold sequences of similar length, which balances the
        // attention work between threads.
        let order = sequences.indices.sorted { sequences[$0].count > sequences[$1].count }
        var start = 0
        while start < order.count {
            var tokens = 0
            var end = start
            while end < order.count, end == start || tokens + sequences[order[end]].count <= maxTokensPerPass {
                tokens += sequences[order[end]].count
                end += 1
            }
            let pass = order[start..<end]
            for (index, vector) in zip(pass, run(pass.map { sequences[$0] }, tokens)) {
                results[index] = vector
            }
            start = end
        }
        return results
    }

    /// A batch of queries (`lengths` their token counts) cut into `threads` groups of sequence
    /// indices, one pass each on its own thread, or nil where one pass over every thread is the
    /// better way: a single thread, fewer than two sequences a thread, or groups that cannot be
    /// made even.
    ///
    /// Why: one pass spread over the threads hands each of its ~30 steps from thread to thread, and
    /// on a server busy with many clients a step waits whenever the thread posting it has no core;
    /// passes side by side hand nothing over (16 HTTP clients on two cores: 466–469 → 486–492
    /// queries/s). With fewer sequences the groups come out uneven and the thread of the largest
    /// works alone at the end (4 clients, 1.7 queries a pass, were 1–2% slower when passes of two
    /// were split). A query's vector is the same either way: the packed kernel computes each row
    /// alike however its columns are split among threads, as does everything else in the pass.
    /// Groups are filled longest sequence first, each into the group with the fewest tokens, and
    /// kept only when the largest holds at most `maxImbalance` times the average (on two threads,
    /// 60% of the tokens).
    static func split(_ lengths: [Int], threads: Int, maxImbalance: Double = 1.2) -> [[Int]]? {
        guard threads > 1, lengths.count >= 2 * threads else { return nil }
        var groups = [[Int]](repeating: [], count: threads)
        var tokens = [Int](repeating: 0, count: threads)
        for index in lengths.indices.sorted(by: { lengths[$0] > lengths[$1] }) {
            let lightest = tokens.indices.min { tokens[$0] < tokens[$1] }!
            groups[lightest].append(index)
            tokens[lightest] += lengths[index]
        }
        let average = Double(tokens.reduce(0, +)) / Double(threads)
        guard Double(tokens.max()!) <= maxImbalance * average else { return nil }
        return groups
    }

    /// Each group of `sequences` (by index) in a pass of its own, side by side on the pool's
    /// threads; the vectors in the order of `sequences`.
    private func runSplit(_ groups: [[Int]], of sequences: [[Int32]], pooledFrom: Int) -> [[Float]] {
        let split = self.split
        var vectors = [[[Float]]](repeating: [], count: groups.count)
        vectors.withUnsafeMutableBufferPointer { vectors in
            whole.pool.run(parts: groups.count) { part, thread in
                let members = groups[part].map { sequences[$0] }
                vectors[part] = runPass(members, tokenCount: members.reduce(0) { $0 + $1.count }, rowStable: true,
                                        pooledFrom: pooledFrom, on: split[thread])
            }
        }
        var results = [[Float]](repeating: [], count: sequences.count)
        for (group, groupVectors) in zip(groups, vectors) {
            for (index, vector) in zip(group, groupVectors) { results[index] = vector }
        }
        return results
    }

    // MARK: one pass

    private func runPass(_ sequences: [[Int32]], tokenCount: Int, rowStable: Bool, pooledFrom: Int,
                         on lane: PassLane) -> [[Float]] {
        let c = weights.configuration
        let h = c.hiddenSize
        let scratch = lane.scratch
        scratch.reserve(tokens: tokenCount, limit: maxTokensPerPass, configuration: c, threads: lane.pool.threadCount)
        let hidden = scratch.hidden!
        let qkv = scratch.qkv!
        let context = scratch.context!
        let projected = scratch.projected!
        let intermediate = scratch.intermediate!

        var offsets: [Int] = []
        offsets.reserveCapacity(sequences.count)
        var running = 0
        for sequence in sequences {
            offsets.append(running)
            running += sequence.count
        }

        embed(sequences, offsets: offsets, into: hidden, on: lane)
        let packed = rowStable || tokenCount <= Self.smallPassRows || batchesUsePackedKernel ? packedLayers : nil
        let pooledRows = lastLayerRows(of: sequences, pooledFrom: pooledFrom)
        var rows = tokenCount
        for (index, layer) in weights.layers.enumerated() {
            let small = packed?[index]
            linear(hidden, rows: rows, inputs: h, weight: layer.qkvWeight.pointer, packed: small?.qkv,
                   bias: layer.qkvBias.pointer, outputs: 3 * h, into: qkv, gelu: false, on: lane)
            if index == weights.layers.count - 1, let pooledRows {
                attention(qkv: qkv, context: context, sequences: sequences, offsets: offsets, onlyRows: pooledRows, on: lane)
                compactRows(hidden, at: zip(offsets, pooledRows).map(+))
                rows = sequences.count
            } else {
                attention(qkv: qkv, context: context, sequences: sequences, offsets: offsets, on: lane)
            }
            linear(context, rows: rows, inputs: h, weight: layer.attentionOutputWeight.pointer,
                   packed: small?.attentionOutput, bias: layer.attentionOutputBias.pointer, outputs: h,
                   into: projected, gelu: false, on: lane)
            normalizeRows(projected, residual: hidden, into: hidden, rows: rows,
                          weight: layer.attentionNormWeight, bias: layer.attentionNormBias, on: lane)
            linear(hidden, rows: rows, inputs: h, weight: layer.intermediateWeight.pointer,
                   packed: small?.intermediate, bias: layer.intermediateBias.pointer, outputs: c.intermediateSize,
                   into: intermediate, gelu: true, on: lane)
            linear(intermediate, rows: rows, inputs: c.intermediateSize, weight: layer.outputWeight.pointer,
                   packed: small?.output, bias: layer.outputBias.pointer, outputs: h, into: projected, gelu: false, on: lane)
            normalizeRows(projected, residual: hidden, into: hidden, rows: rows,
                          weight: layer.outputNormWeight, bias: layer.outputNormBias, on: lane)
        }
        if rows < tokenCount {
            // Row i holds sequence i's pooled row: a one-row sequence to the pooling.
            return sequences.indices.map { sentenceVector(hidden + $0 * h, tokens: 1, pooledFrom: 0) }
        }
        return zip(sequences, offsets).map { sequence, offset in
            sentenceVector(hidden + offset * h, tokens: sequence.count, pooledFrom: pooledFrom)
        }
    }

    /// The row of each sequence that the last layer computes alone, or nil when it computes them all.
    ///
    /// Where the pooling reads one row of each sequence, the last layer needs every row's keys and
    /// values but computes the rest (attention, its projection, the feed-forward) for that row alone:
    /// three quarters of the last layer's work saved. The vectors are the same bit for bit where the
    /// products are row-stable (queries through the packed kernel: attention computes each row
    /// alike however many share the call), and to rounding where OpenBLAS blocks them by row count.
    func lastLayerRows(of sequences: [[Int32]], pooledFrom: Int) -> [Int]? {
        guard lastLayerPooledRowsOnly else { return nil }
        let rows = sequences.compactMap { pooledRow(tokens: $0.count, pooledFrom: pooledFrom) }
        return rows.count == sequences.count ? rows : nil
    }

    /// Moves row `sources[i]` of `matrix` to row i, for each i in order. Each source is at or after
    /// its target and after the targets before it, so no row is overwritten before it is moved.
    private func compactRows(_ matrix: UnsafeMutablePointer<Float>, at sources: [Int]) {
        let h = weights.configuration.hiddenSize
        for (target, source) in sources.enumerated() where source != target {
            precondition(source > target, "rows compacted out of order")
            (matrix + target * h).update(from: matrix + source * h, count: h)
        }
    }

    /// Word + position + token-type embeddings, then LayerNorm.
    private func embed(_ sequences: [[Int32]], offsets: [Int], into hidden: UnsafeMutablePointer<Float>, on lane: PassLane) {
        let c = weights.configuration
        let h = c.hiddenSize
        let words = weights.wordEmbeddings.pointer
        let positions = weights.positionEmbeddings.pointer
        let types = weights.tokenTypeEmbeddings.pointer
        for (sequence, offset) in zip(sequences, offsets) {
            c.positions.forEachRow(of: sequence) { index, position in
                let row = hidden + (offset + index) * h
                let word = words + Int(sequence[index]) * h
                let place = positions + position * h
                for i in 0..<h { row[i] = word[i] + place[i] + types[i] }
            }
        }
        let rows = offsets.last.map { $0 + sequences[sequences.count - 1].count } ?? 0
        normalizeRows(hidden, residual: nil, into: hidden, rows: rows,
                      weight: weights.embeddingNormWeight, bias: weights.embeddingNormBias, on: lane)
    }

    /// `output = input · weightᵀ + bias` (then GELU), split across the worker threads; through the
    /// packed kernel when `packed` is given.
    private func linear(
        _ input: UnsafeMutablePointer<Float>, rows: Int, inputs: Int, weight: UnsafePointer<Float>,
        packed: FloatTensor?, bias: UnsafePointer<Float>, outputs: Int, into output: UnsafeMutablePointer<Float>,
        gelu: Bool, on lane: PassLane
    ) {
        let pool = lane.pool
        let threadCount = pool.threadCount
        if let packed {
            PackedProduct.multiply(input, rows: rows, inputs: inputs, packed: packed.pointer, outputs: outputs,
                                   into: output, pool: pool) { columns in
                VectorMath.addBias(output + columns.lowerBound, rows: rows, columns: columns.count, stride: outputs,
                                   bias: bias + columns.lowerBound, gelu: gelu)
            }
            return
        }
        // Row splits keep each worker's share of the product large; with few rows (one query)
        // there is not enough to split, so the output columns are divided instead.
        let splitRows = rows >= 32 * threadCount
        let parts = splitRows ? threadCount : min(threadCount, max(1, outputs / 64))
        let work: (Int) -> Void = { part in
            if splitRows {
                let range = partRange(part, of: parts, count: rows, alignment: 1)
                guard !range.isEmpty else { return }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(range.count), Int32(outputs), Int32(inputs),
                            1, input + range.lowerBound * inputs, Int32(inputs), weight, Int32(inputs),
                            0, output + range.lowerBound * outputs, Int32(outputs))
                VectorMath.addBias(output + range.lowerBound * outputs, rows: range.count, columns: outputs,
                                   stride: outputs, bias: bias, gelu: gelu)
            } else {
                let range = partRange(part, of: parts, count: outputs, alignment: VectorMath.lanes)
                guard !range.isEmpty else { return }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(range.count), Int32(inputs),
                            1, input, Int32(inputs), weight + range.lowerBound * inputs, Int32(inputs),
                            0, output + range.lowerBound, Int32(outputs))
                VectorMath.addBias(output + range.lowerBound, rows: rows, columns: range.count,
                                   stride: outputs, bias: bias + range.lowerBound, gelu: gelu)
            }
        }
        pool.run(parts: parts, work)
    }

    /// Multi-head self-attention of every sequence; reads Q, K and V from the fused `qkv` rows and
    /// writes the heads side by side into `context`.
    ///
    /// With `onlyRows`, only the row `onlyRows[s]` of each sequence `s` attends (every row's keys and
    /// values still count), and its result is written to row `s` of `context`.
    private func attention(
        qkv: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>, sequences: [[Int32]], offsets: [Int],
        onlyRows: [Int]? = nil, on lane: PassLane
    ) {
        let scratch = lane.scratch
        let c = weights.configuration
        let h = c.hiddenSize
        let d = c.headSize
        let stride = 3 * h
        let scale = 1 / Float(d).squareRoot()
        let items = sequences.count * c.headCount
        let buffers = scratch.attention
        let capacity = scratch.attentionCapacity
        let isa = CKernels_isa()
        // One part per head of each sequence. Parts are claimed from the last down, so part p
        // does item `items - 1 - p`: the longest sequences (they come first) are done first and
        // the short ones fill in at the end, which balances the threads.
        lane.pool.run(parts: items) { part, thread in
            let item = items - 1 - part
            let sequence = item / c.headCount
            let head = item % c.headCount
            let length = sequences[sequence].count
            let base = qkv + offsets[sequence] * stride + head * d
            // Every query row, or only the one the pooling reads (its context row is its sequence's index).
            let (queries, rows, output) = onlyRows.map { rows in
                (base + rows[sequence] * stride, 1, context + sequence * h + head * d)
            } ?? (base, length, context + offsets[sequence] * h + head * d)
            // Guaranteed by the backend's input validation (length ≤ maxPositions).
            precondition(CKernels_attention_scratch(Int32(rows), Int32(length), Int32(d)) <= capacity,
                         "attention scratch too small")
            CKernels_attention(isa, queries, Int32(rows), base + h, base + 2 * h, Int32(stride), Int32(length),
                               Int32(d), scale, buffers[thread], output, Int32(h))
        }
    }

    private func normalizeRows(
        _ input: UnsafeMutablePointer<Float>, residual: UnsafeMutablePointer<Float>?, into output: UnsafeMutablePointer<Float>,
        rows: Int, weight: FloatTensor, bias: FloatTensor, on lane: PassLane
    ) {
        let h = weights.configuration.hiddenSize
        let epsilon = weights.configuration.layerNormEpsilon
        let parts = rows >= 16 * lane.pool.threadCount ? lane.pool.threadCount : 1
        lane.pool.run(parts: parts) { part in
            let range = partRange(part, of: parts, count: rows, alignment: 1)
            VectorMath.layerNorm(
                input: input + range.lowerBound * h, residual: residual.map { UnsafePointer($0 + range.lowerBound * h) },
                output: output + range.lowerBound * h, rows: range.count, columns: h,
                weight: weight.pointer, bias: bias.pointer, epsilon: epsilon)
        }
    }

    /// One sequence's rows pooled as the model says (over the rows from `pooledFrom` on: those
    /// after a prompt the pooling excludes), then L2-normalised when configured. The same
    /// arithmetic as sentence-transformers' `Pooling` in float32.
    private func sentenceVector(_ rows: UnsafeMutablePointer<Float>, tokens: Int, pooledFrom: Int) -> [Float] {
        let c = weights.configuration
        let h = c.hiddenSize
        // A text that is nothing but its prompt still pools its last token rather than nothing.
        let first = min(pooledFrom, tokens - 1)
        var vector = [Float](repeating: 0, count: h)
        if let row = pooledRow(tokens: tokens, pooledFrom: pooledFrom) {
            for i in 0..<h { vector[i] = rows[row * h + i] }
            return normalized(vector)
        }
        func accumulate(weight: (Int) -> Float) {
            for token in first..<tokens {
                let row = rows + token * h
                let w = weight(token)
                for i in 0..<h { vector[i] += w * row[i] }
            }
        }
        switch c.pooling {
        case .cls, .lastToken:
            preconditionFailure("pooled from one row, above")
        case .max:
            for i in 0..<h { vector[i] = -.infinity }
            for token in first..<tokens {
                let row = rows + token * h
                for i in 0..<h { vector[i] = max(vector[i], row[i]) }
            }
        case .mean, .meanSqrtLength:
            accumulate { _ in 1 }
            let count = Float(tokens - first)
            let divisor = c.pooling == .mean ? count : count.squareRoot()
            for i in 0..<h { vector[i] /= divisor }
        case .weightedMean:
            // Weights are positions counted from 1 at the sequence's first token, prompt or not.
            accumulate { Float($0 + 1) }
            let total = (first..<tokens).reduce(Float(0)) { $0 + Float($1 + 1) }
            for i in 0..<h { vector[i] /= total }
        }
        return normalized(vector)
    }

    /// The row of a sequence of `tokens` whose vector is its sentence vector, where the pooling
    /// reads one row (CLS: the first after an excluded prompt; last token); nil where it reads all.
    private func pooledRow(tokens: Int, pooledFrom: Int) -> Int? {
        switch weights.configuration.pooling {
        case .cls: min(pooledFrom, tokens - 1)
        case .lastToken: tokens - 1
        case .mean, .meanSqrtLength, .max, .weightedMean: nil
        }
    }

    /// `vector` L2-normalised when the model says so.
    private func normalized(_ vector: [Float]) -> [Float] {
        guard weights.configuration.normalize else { return vector }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let inverse = 1 / max(norm, 1e-12)
        return vector.map { $0 * inverse }
    }
}

/// What one pass runs with: its scratch memory, and the threads its steps are spread over.
private final class PassLane {
    let scratch = Scratch()
    let pool: WorkerPool

    init(pool: WorkerPool) {
        self.pool = pool
    }
}

/// Scratch memory for one pass, grown on demand and reused: allocation per pass would cost more
/// than a short query's whole forward pass. Freed with the lane that holds it.
private final class Scratch {
    var capacity = 0
    var hidden: UnsafeMutablePointer<Float>?
    var qkv: UnsafeMutablePointer<Float>?
    var context: UnsafeMutablePointer<Float>?
    var projected: UnsafeMutablePointer<Float>?
    var intermediate: UnsafeMutablePointer<Float>?
    /// One attention scratch per worker thread, for the longest sequence (`CKernels_attention`).
    var attention: [UnsafeMutablePointer<Float>] = []
    var attentionCapacity = 0

    func reserve(tokens: Int, limit: Int, configuration c: ModelConfiguration, threads: Int) {
        if attention.count != threads {
            releaseAttention()
            let longest = Int32(c.maxPositions)
            attentionCapacity = CKernels_attention_scratch(longest, longest, Int32(c.headSize))
            attention = (0..<threads).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: attentionCapacity) }
        }
        guard tokens > capacity else { return }
        releaseActivations()
        // Grow in steps so that a run of slightly longer queries does not reallocate each time.
        capacity = max(tokens, min(limit, max(2 * capacity, 64)))
        hidden = .allocate(capacity: capacity * c.hiddenSize)
        qkv = .allocate(capacity: capacity * 3 * c.hiddenSize)
        context = .allocate(capacity: capacity * c.hiddenSize)
        projected = .allocate(capacity: capacity * c.hiddenSize)
        intermediate = .allocate(capacity: capacity * c.intermediateSize)
    }

    func releaseActivations() {
        [hidden, qkv, context, projected, intermediate].forEach { $0?.deallocate() }
    }

    func releaseAttention() {
        attention.forEach { $0.deallocate() }
        attention = []
    }

    deinit {
        releaseActivations()
        releaseAttention()
    }
}
