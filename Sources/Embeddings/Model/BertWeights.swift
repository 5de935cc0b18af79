import Foundation

/// The weights of one encoder layer, with the query, key and value projections fused into one
/// matrix so that a single GEMM produces all three.
public struct BertLayerWeights: Sendable {
    /// `[3·hidden × hidden]`: rows of the query, then key, then value projection.
    public let qkvWeight: FloatTensor
    /// `[3·hidden]`.
    public let qkvBias: FloatTensor
    /// `[hidden × hidden]`.
    public let attentionOutputWeight: FloatTensor
    /// `[hidden]`.
    public let attentionOutputBias: FloatTensor
    /// LayerNorm after attention: scale and shift, `[hidden]` each.
    public let attentionNormWeight: FloatTensor
    public let attentionNormBias: FloatTensor
    /// `[intermediate × hidden]`.
    public let intermediateWeight: FloatTensor
    /// `[intermediate]`.
    public let intermediateBias: FloatTensor
    /// `[hidden × intermediate]`.
    public let outputWeight: FloatTensor
    /// `[hidden]`.
    public let outputBias: FloatTensor
    /// LayerNorm after the feed-forward block: scale and shift, `[hidden]` each.
    public let outputNormWeight: FloatTensor
    public let outputNormBias: FloatTensor
}

/// All weights of a BERT encoder, checked by name and shape against its configuration.
///
/// Matrices are stored as PyTorch's `nn.Linear` does, `[out × in]` row-major, so a layer computes
/// `y = x · Wᵀ + b`.
public struct BertWeights: Sendable {
    /// The configuration the shapes were checked against.
    public let configuration: ModelConfiguration
    /// `[vocabulary × hidden]`.
    public let wordEmbeddings: FloatTensor
    /// `[maxPositions × hidden]`.
    public let positionEmbeddings: FloatTensor
    /// `[typeVocabulary × hidden]`; only row 0 is used for single sentences.
    public let tokenTypeEmbeddings: FloatTensor
    /// LayerNorm over the summed embeddings, `[hidden]` each.
    public let embeddingNormWeight: FloatTensor
    public let embeddingNormBias: FloatTensor
    /// The encoder layers, first to last.
    public let layers: [BertLayerWeights]

    /// Reads every tensor from `file`, checking names and shapes against `configuration`.
    ///
    /// Accepts both `BertModel` checkpoints (`embeddings.…`) and task-model ones whose names carry a
    /// `bert.` prefix.
    public init(file: SafeTensorsFile, configuration c: ModelConfiguration) throws {
        configuration = c
        let prefix = file.tensors["embeddings.word_embeddings.weight"] != nil ? ""
            : ["bert.", "roberta."].first { file.tensors[$0 + "embeddings.word_embeddings.weight"] != nil } ?? ""
        func tensor(_ name: String, _ shape: [Int]) throws -> FloatTensor {
            try file.floats(prefix + name, shape: shape)
        }
        let h = c.hiddenSize
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [c.vocabularySize, h])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [c.maxPositions, h])
        tokenTypeEmbeddings = try tensor("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, h])
        embeddingNormWeight = try tensor("embeddings.LayerNorm.weight", [h])
        embeddingNormBias = try tensor("embeddings.LayerNorm.bias", [h])

        layers = try (0..<c.layerCount).map { index in
            let p = "encoder.layer.\(index)."
            let q = try tensor(p + "attention.self.query.weight", [h, h])
            let k = try tensor(p + "attention.self.key.weight", [h, h])
            let v = try tensor(p + "attention.self.value.weight", [h, h])
            let qb = try tensor(p + "attention.self.query.bias", [h])
            let kb = try tensor(p + "attention.self.key.bias", [h])
            let vb = try tensor(p + "attention.self.value.bias", [h])
            return BertLayerWeights(
                qkvWeight: FloatTensor.concatenating([q, k, v]),
                qkvBias: FloatTensor.concatenating([qb, kb, vb]),
                attentionOutputWeight: try tensor(p + "attention.output.dense.weight", [h, h]),
                attentionOutputBias: try tensor(p + "attention.output.dense.bias", [h]),
                attentionNormWeight: try tensor(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBias: try tensor(p + "attention.output.LayerNorm.bias", [h]),
                intermediateWeight: try tensor(p + "intermediate.dense.weight", [c.intermediateSize, h]),
                intermediateBias: try tensor(p + "intermediate.dense.bias", [c.intermediateSize]),
                outputWeight: try tensor(p + "output.dense.weight", [h, c.intermediateSize]),
                outputBias: try tensor(p + "output.dense.bias", [h]),
                outputNormWeight: try tensor(p + "output.LayerNorm.weight", [h]),
                outputNormBias: try tensor(p + "output.LayerNorm.bias", [h])
            )
        }
    }
}

extension FloatTensor {
    /// One new buffer holding `parts` back to back.
    static func concatenating(_ parts: [FloatTensor]) -> FloatTensor {
        FloatTensor(copying: parts.reduce(0) { $0 + $1.count }) { out in
            var offset = 0
            for part in parts {
                (out + offset).update(from: part.pointer, count: part.count)
                offset += part.count
            }
        }
    }
}
