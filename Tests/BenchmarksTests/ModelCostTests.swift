@testable import Benchmarks
import Embeddings
import Testing

@Suite struct ModelCostTests {
    @Test("the FLOP count follows the model's shapes")
    func modelCost() {
        let cost = ModelCost(configuration: ModelConfiguration())
        // 6 layers × (2·t·384·(3·384 + 384 + 2·1536) + 4·t²·384), for t = 10.
        let expected = 6.0 * (2 * 10 * 384 * (3 * 384 + 384 + 2 * 1536) + 4 * 100 * 384)
        #expect(cost.flops(tokens: 10) == expected)
    }
}
