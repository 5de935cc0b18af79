import Embeddings

/// Floating-point operations of one forward pass, counted from the model's shapes, so that a
/// measured rate can be compared with what the hardware's matrix products reach.
public struct ModelCost: Sendable {
    /// The model being counted.
    public let configuration: ModelConfiguration

    /// A counter for `configuration`.
    public init(configuration: ModelConfiguration) {
        self.configuration = configuration
    }

    /// FLOPs (a multiply-add counts two) of one sequence of `tokens` word pieces: the four dense
    /// products of every layer, plus the two attention products, which grow with the square of
    /// the length. Element-wise work (GELU, softmax, LayerNorm) is left out, as is usual.
    public func flops(tokens: Int) -> Double {
        let h = Double(configuration.hiddenSize)
        let i = Double(configuration.intermediateSize)
        let t = Double(tokens)
        let dense = 2 * t * h * (3 * h + h + 2 * i)
        let attention = 2 * 2 * t * t * h
        return Double(configuration.layerCount) * (dense + attention)
    }
}
