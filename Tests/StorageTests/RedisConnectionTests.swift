import Foundation
import Redis
import Synchronization
import Testing

/// The Redis servers `tools/test` starts; a test needing one fails, not skips, when it is missing.
enum RedisTestServers {
    static func endpoint(_ variable: String) throws -> RedisEndpoint {
        guard let url = ProcessInfo.processInfo.environment[variable] else {
            Issue.record("\(variable) is not set: run the suite with tools/test, which starts redis-server")
            throw RedisError.configuration("no test server")
        }
        return try RedisEndpoint(url: url)
    }

    static var plain: RedisEndpoint { get throws { try endpoint("MCP_RAG_TEST_REDIS_URL") } }
    static var withPassword: RedisEndpoint { get throws { try endpoint("MCP_RAG_TEST_REDIS_AUTH_URL") } }

    static func connect(_ endpoint: RedisEndpoint, timeout: Duration = .seconds(2)) throws -> RedisConnection {
        try RedisConnection(endpoint: endpoint, connectTimeout: timeout, commandTimeout: timeout)
    }

    /// A key prefix no other test uses.
    static func prefix() -> String { "mcp-rag-test:\(UUID().uuidString):" }
}

@Suite struct RedisConnectionTests {
    @Test func hostileTextIsStoredByteForByte() throws {
        let connection = try RedisTestServers.connect(try RedisTestServers.plain)
        let key = RedisTestServers.prefix() + "value"
        let values = [
            "\r\n*3\r\n$3\r\nDEL\r\n$1\r\nk\r\n",  // shaped like a RESP command
            "ünïcødé 🦆 日本語 \u{0}nul",
            "",
            String(repeating: "x", count: 1 << 20),
        ]
        for value in values {
            #expect(try connection.send(["SET", key, value, "EX", "60"]) == .status("OK"))
            #expect(try connection.send(["GET", key]).text == value)
        }
        // A key made of protocol text is one key too.
        let hostileKey = RedisTestServers.prefix() + "\r\nFLUSHALL\r\n"
        #expect(try connection.send(["SET", hostileKey, "1", "EX", "60"]) == .status("OK"))
        #expect(try connection.send(["EXISTS", hostileKey]) == .integer(1))
        _ = try connection.send(["DEL", key, hostileKey])
    }

    @Test func aPipelineAnswersEachCommandInOrder() throws {
        let connection = try RedisTestServers.connect(try RedisTestServers.plain)
        let key = RedisTestServers.prefix() + "zset"
        let replies = try connection.pipeline([
            ["ZINCRBY", key, "1", "b"], ["ZINCRBY", key, "1", "a"], ["ZINCRBY", key, "1", "a"],
            ["EXPIRE", key, "60"], ["ZREVRANGE", key, "0", "-1", "WITHSCORES"], ["LPUSH", key, "x"],
        ])
        #expect(replies.count == 6)
        #expect(replies[2].number == 2)
        #expect(replies[3] == .integer(1))
        #expect(replies[4] == .array([.string(Array("a".utf8)), .string(Array("2".utf8)),
                                      .string(Array("b".utf8)), .string(Array("1".utf8))]))
        // A command the server rejects is an error reply in its place, not a thrown error.
        guard case .error(let message) = replies[5] else { Issue.record("expected WRONGTYPE, got \(replies[5])"); return }
        #expect(message.hasPrefix("WRONGTYPE"))
        _ = try connection.send(["DEL", key])
    }

    @Test func theDatabaseInTheURLIsSelected() throws {
        var endpoint = try RedisTestServers.plain
        endpoint.database = 1
        let one = try RedisTestServers.connect(endpoint)
        let zero = try RedisTestServers.connect(try RedisTestServers.plain)
        let key = RedisTestServers.prefix() + "db"
        _ = try one.send(["SET", key, "in one", "EX", "60"])
        #expect(try one.send(["GET", key]).text == "in one")
        #expect(try zero.send(["GET", key]) == .null)
        _ = try one.send(["DEL", key])
    }

    @Test func theRightPasswordLogsInAndAWrongOneIsAClearError() throws {
        let good = try RedisTestServers.withPassword
        #expect(try RedisTestServers.connect(good).send(["PING"]) == .status("PONG"))
        var wrong = good
        wrong.password = "not-the-password"
        let error = try #require(throws: RedisError.self) { try RedisTestServers.connect(wrong) }
        #expect(error.isAuthentication && error.countsAsOutage && !error.isTransient)
        #expect(error.description.contains("refused the login"))
        #expect(!error.description.contains("not-the-password") && !error.description.contains(good.password ?? "-"))
        // Without one, the server answers every command with NOAUTH: an authentication error, not
        // an answer, so it counts against the breaker like a wrong password does.
        var none = good
        none.password = nil
        let refusal = try #require(throws: RedisError.self) { try RedisTestServers.connect(none).send(["GET", "k"]) }
        #expect(refusal.isAuthentication && refusal.countsAsOutage)
        #expect(refusal.description.contains("NOAUTH") && refusal.description.contains("REDIS_URL"))
    }

    @Test func anOrdinaryErrorReplyIsAnAnswer() throws {
        let connection = try RedisTestServers.connect(try RedisTestServers.plain)
        let key = RedisTestServers.prefix() + "text"
        let replies = try connection.pipeline([["SET", key, "x", "EX", "60"], ["INCR", key], ["GET", key]])
        guard case .error(let message) = replies[1] else { Issue.record("INCR of text answered \(replies[1])"); return }
        #expect(message.hasPrefix("ERR"))
        #expect(replies[2].text == "x", "the pipeline stayed in step")
        _ = try connection.send(["DEL", key])
    }

    @Test func aClosedPortIsATransientConnectionError() throws {
        let error = try #require(throws: RedisError.self) {
            try RedisTestServers.connect(RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 1)))
        }
        #expect(error.isTransient && error.countsAsOutage)
        #expect(error.description.contains("127.0.0.1:1"))
    }

    @Test func aSlowAnswerTimesOutAndBreaksTheConnection() throws {
        let connection = try RedisTestServers.connect(try RedisTestServers.plain, timeout: .milliseconds(100))
        let error = try #require(throws: RedisError.self) {
            try connection.send(["BLPOP", RedisTestServers.prefix() + "never", "2"])
        }
        #expect(error.isTransient, "\(error)")
        #expect(connection.isBroken)
        #expect(throws: RedisError.self) { try connection.send(["PING"]) }
    }
}

@Suite struct RedisConnectionPoolTests {
    @Test func concurrentCallsShareAFewConnections() async throws {
        let pool = RedisConnectionPool(configuration: .init(endpoint: try RedisTestServers.plain, size: 3))
        let key = RedisTestServers.prefix() + "counter"
        let names = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    try await pool.run { connection in
                        _ = try connection.send(["INCR", key])
                        return try connection.send(["CLIENT", "ID"]).number.map { String(Int($0)) } ?? "?"
                    }
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(try await pool.run { try $0.send(["GET", key]).text } == "64")
        #expect(names.count <= 3, "at most the pool's size: \(names)")
        _ = try await pool.run { try $0.send(["DEL", key]) }
    }

    @Test func aConnectionTheServerDroppedIsReplaced() async throws {
        let endpoint = try RedisTestServers.plain
        let pool = RedisConnectionPool(configuration: .init(endpoint: endpoint, size: 1))
        let first = try await pool.run { try $0.send(["CLIENT", "ID"]) }
        guard case .integer(let id) = first else { Issue.record("CLIENT ID answered \(first)"); return }
        _ = try RedisTestServers.connect(endpoint).send(["CLIENT", "KILL", "ID", String(id)])
        await #expect(throws: RedisError.self) { try await pool.run { try $0.send(["PING"]) } }
        #expect(try await pool.run { try $0.send(["PING"]) } == .status("PONG"))
    }
}
