import Foundation
import KnowledgeBase
import MCP
import MCPServer
import Synchronization

/// An SDK client talking to the SDK server in this process, and the checks it runs.
final class SelfTestSession: Sendable {
    private let server: MCPRagServer
    private let client = Client(name: "mcp-rag-selftest", version: MCPRagVersion.current)
    private let sdkServer = Mutex<Server?>(nil)

    init(server: MCPRagServer) {
        self.server = server
    }

    func exercise(_ checks: inout SelfTestChecks, sampleFolder: URL) async {
        let client = self.client
        let connected = await checks.value("initialize") { () -> (Bool, String) in
            let (clientTransport, serverTransport) = await InMemoryTransport.createConnectedPair()
            let sdkServer = try await server.start(transport: serverTransport)
            self.sdkServer.withLock { $0 = sdkServer }
            let result = try await client.connect(transport: clientTransport)
            try expect(result.serverInfo.name == "mcp-rag", "server name is \(result.serverInfo.name)")
            try expect(!(result.instructions ?? "").isEmpty, "no instructions")
            return (true, "protocol \(result.protocolVersion), server \(result.serverInfo.name) \(result.serverInfo.version)")
        }
        guard connected != nil else { return }

        await checks.run("tools/list") {
            let tools = try await client.listTools().tools
            let names = Set(tools.map(\.name))
            let required: Set = ["query_knowledge_base", "health_check", "get_cache_warming_stats", "verify_gpu_acceleration"]
            try expect(required.isSubset(of: names), "missing \(required.subtracting(names).sorted())")
            try expect(tools.allSatisfy { $0.outputSchema != nil }, "a tool has no output schema")
            return "\(tools.count) tools: \(tools.map(\.name).joined(separator: ", "))"
        }
        // The data folder may already hold a knowledge base (`--data-dir`): counts are taken
        // relative to what was there, and searches are confined to the sample's label.
        let before = await checks.value("list_sources (before)") { () -> (Int, String) in
            let count = try await self.call("list_sources", [:])["total_sources"]?.intValue ?? 0
            return (count, count == 0 ? "the knowledge base is empty" : "\(count) sources already there")
        } ?? 0
        let label = Value.string(SelfTestSample.technology)
        await checks.run("ingest_documents") {
            let result = try await self.call("ingest_documents", ["paths": [.string(sampleFolder.path)], "technology": label])
            let written = result["files_written"]?.intValue ?? -1
            try expect(written == SelfTestSample.documents.count, "wrote \(written) files")
            return "\(written) files, \(result["chunks_added"]?.intValue ?? 0) passages"
        }
        await checks.run("ingest again (unchanged)") {
            let result = try await self.call("ingest_documents", ["paths": [.string(sampleFolder.path)], "technology": label])
            try expect(result["files_unchanged"]?.intValue == SelfTestSample.documents.count, "files were rewritten")
            return "nothing rewritten"
        }
        await checks.run("list_sources") {
            let result = try await self.call("list_sources", [:])
            let count = result["total_sources"]?.intValue ?? 0
            try expect(count == before + SelfTestSample.documents.count, "lists \(count) sources, \(before) before the sample")
            return "\(count) sources, \(result["total_chunks"]?.intValue ?? 0) passages"
        }
        for mode in SearchMode.allCases {
            await checks.run("query_knowledge_base (\(mode.rawValue))") {
                var found: [String] = []
                for document in SelfTestSample.documents {
                    let result = try await self.call("query_knowledge_base", ["query": .string(document.question),
                                                                               "mode": .string(mode.rawValue), "n_results": 3,
                                                                               "technology_filter": label])
                    let top = result["results"]?.arrayValue?.first?.objectValue?["source"]?.stringValue ?? "nothing"
                    try expect(top.hasSuffix("/" + document.name), "\"\(document.question)\" found \(top) first")
                    found.append(String(format: "%.1f ms", result["took_ms"]?.doubleValue ?? 0))
                }
                return "\(SelfTestSample.documents.count) of \(SelfTestSample.documents.count) questions found their page (\(found.joined(separator: ", ")))"
            }
        }
        await checks.run("result cache") {
            let question = SelfTestSample.documents[0].question
            let result = try await self.call("query_knowledge_base", ["query": .string(question.uppercased()),
                                                                       "mode": "hybrid", "n_results": 3, "technology_filter": label])
            try expect(result["cache_hit"]?.boolValue == true, "a repeated query missed the cache")
            return String(format: "repeated query answered from the cache in %.2f ms", result["took_ms"]?.doubleValue ?? 0)
        }
        await checks.run("get_cache_warming_stats") {
            // Tracking is written off the query's path: give it a moment to land.
            var total = 0
            for _ in 0..<50 {
                let result = try await self.call("get_cache_warming_stats", ["top_n": 5])
                total = result["total_queries"]?.intValue ?? 0
                if total >= 3 * SelfTestSample.documents.count + 1 { return "\(total) queries tracked, \(result["total_unique_queries"]?.intValue ?? 0) distinct" }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw SelfTestFailure("only \(total) queries tracked")
        }
        for level in HealthLevel.allCases {
            await checks.run("health_check (\(level.rawValue))") {
                let result = try await self.call("health_check", ["level": .string(level.rawValue)])
                let status = result["status"]?.stringValue ?? "?"
                try expect(status == "healthy", "status \(status): \(result["dependencies"].map { "\($0)" } ?? "")")
                return "\(status) in " + String(format: "%.1f ms", result["duration_ms"]?.doubleValue ?? 0)
            }
        }
        await checks.run("verify_gpu_acceleration") {
            let result = try await self.call("verify_gpu_acceleration", ["run_benchmark": true])
            let cpu = result["cpu"]?.objectValue
            let rate = cpu?["sentences_per_second"]?.doubleValue ?? 0
            try expect(rate > 0, "no CPU figures")
            return "serving on \(result["selected_backend"]?.stringValue ?? "?"): "
                + String(format: "%.0f sentences/s, one query %.1f ms", rate, cpu?["single_query_ms"]?.doubleValue ?? 0)
        }
        await checks.run("remove_source") {
            let path = sampleFolder.appendingPathComponent(SelfTestSample.documents[3].name).path
            let result = try await self.call("remove_source", ["source": .string(path)])
            try expect(result["chunks_removed"]?.intValue ?? 0 > 0, "nothing removed")
            let listed = try await self.call("list_sources", [:])["sources"]?.arrayValue?.count ?? 0
            try expect(listed == before + SelfTestSample.documents.count - 1, "\(listed) sources left, \(before) before the sample")
            return "\(result["chunks_removed"]?.intValue ?? 0) passages removed"
        }
        await checks.run("bad arguments are tool errors") {
            let request = CallTool.request(.init(name: "query_knowledge_base", arguments: ["query": "x", "n_results": 500]))
            let result = try await client.send(request).value
            try expect(result.isError == true, "n_results 500 was accepted")
            return "n_results 500 → isError"
        }
        await checks.run("sample removed") {
            let result = try await self.call("remove_source", ["source": .string(sampleFolder.path)])
            let listed = try await self.call("list_sources", [:])["sources"]?.arrayValue?.count ?? 0
            try expect(listed == before, "\(listed) sources left, \(before) before the sample")
            return "\(result["chunks_removed"]?.intValue ?? 0) passages removed, \(listed) sources as before"
        }
        await checks.run("unknown tool is a protocol error") {
            do {
                let request = CallTool.request(.init(name: "no_such_tool", arguments: [:]))
                _ = try await client.send(request).value
            } catch let error as MCPError {
                return "JSON-RPC error \(error.code)"
            }
            throw SelfTestFailure("an unknown tool was answered")
        }
    }

    /// Calls `name` and returns its structured content; an `isError` result throws its text.
    private func call(_ name: String, _ arguments: [String: Value]) async throws -> [String: Value] {
        let result = try await client.send(CallTool.request(.init(name: name, arguments: arguments))).value
        if result.isError == true {
            let text = result.content.compactMap { if case .text(let text, _, _) = $0 { text } else { nil } }.joined()
            throw SelfTestFailure(text)
        }
        guard let object = result.structuredContent?.objectValue else { throw SelfTestFailure("\(name) returned no structured content") }
        return object
    }

    func close() async {
        await sdkServer.withLock { $0 }?.stop()
        await client.disconnect()
    }
}

private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw SelfTestFailure(message()) }
}
