import KnowledgeBase
import MCP

/// One tool of the server: its definition (schemas, annotations) and what a call does.
protocol RagTool: Sendable {
    /// The definition listed by `tools/list`.
    var definition: Tool { get }
    /// Runs a call; an `InvalidRequest` or `ToolFailure` becomes an `isError` result with its message.
    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput
}

/// What a tool call can reach.
struct ToolContext: Sendable {
    /// The knowledge base, opening in the background.
    let runtime: RuntimeHandle
    /// Sends progress to the client when the call carried a progress token; does nothing otherwise.
    let progress: @Sendable (_ done: Double, _ total: Double?, _ message: String?) async -> Void
}

/// A tool's result as JSON text and as the same structure.
struct ToolOutput: Sendable {
    let text: String
    let value: Value

    init<T: Encodable>(_ output: T) throws {
        (text, value) = try ToolJSON.encode(output)
    }
}

/// A tool could not do its job for a reason outside the request (a store that fails, say).
struct ToolFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
