import KnowledgeBase
import MCP

/// One tool of the server: its definition (schemas, annotations) and what a call does.
protocol RagTool: Sendable {
    /// The definition listed by `tools/list`.
    var definition: Tool { get }
    /// Runs a call; whatever it throws becomes an `isError` result with `ClientError`'s sentence.
    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput
}

/// What a tool call can reach.
struct ToolContext: Sendable {
    /// The knowledge base (its calls wait while it opens).
    let knowledgeBase: KnowledgeBase
    /// Sends progress to the client when the call carried a progress token; does nothing otherwise.
    let progress: @Sendable (_ done: Double, _ total: Double?, _ message: String?) async -> Void
}

/// A tool's result, encoded once as JSON: the answer's structured content as it is, and its text.
struct ToolOutput: Sendable {
    let json: [UInt8]

    init<T: Encodable>(_ output: T) throws {
        json = try ToolJSON.bytes(output)
    }

    var text: String { String(decoding: json, as: UTF8.self) }
}
