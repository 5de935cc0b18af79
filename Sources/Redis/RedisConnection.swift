import CHiredis
import Foundation
import Redaction
import Storage

/// One connection to Redis, logged in and on its database.
///
/// Blocking: every call waits on the socket (up to the command timeout). Use it from a thread of
/// its own, never from Swift's cooperative pool; `RedisConnectionPool` does that.
///
/// `@unchecked Sendable`: hiredis contexts are not thread-safe, and this class does nothing to make
/// them so; it is safe because the pool hands a connection to one thread at a time, and it is
/// `Sendable` only so that it can be handed over.
public final class RedisConnection: @unchecked Sendable {
    /// Owned: freed in `deinit`, and by nobody else.
    private let context: UnsafeMutablePointer<redisContext>
    public let endpoint: RedisEndpoint
    /// True once a call failed at the socket or protocol level: hiredis cannot be used after that.
    public private(set) var isBroken = false

    /// Connects, sets the command timeout, logs in and selects the database.
    public init(endpoint: RedisEndpoint, connectTimeout: Duration, commandTimeout: Duration) throws(RedisError) {
        self.endpoint = endpoint
        // Whatever the server answers (a WRONGPASS that quotes the login, say), the password is
        // never repeated in a message.
        SecretRedactor.register(endpoint.secrets)
        let connected: UnsafeMutablePointer<redisContext>? = switch endpoint.address {
        case .tcp(let host, let port): CHiredis_connectTCP(host, Int32(port), Self.microseconds(connectTimeout))
        case .unixSocket(let path): CHiredis_connectUnix(path, Self.microseconds(connectTimeout))
        }
        guard let connected else { throw RedisError.connection("cannot connect to \(endpoint): out of memory") }
        context = connected
        if CHiredis_error(context) != 0 {
            throw RedisError.connection("cannot connect to \(endpoint): \(String(cString: CHiredis_errorString(context)))")
        }
        guard CHiredis_setTimeout(context, Self.microseconds(commandTimeout)) == REDIS_OK else {
            throw RedisError.connection("cannot set the command timeout on \(endpoint)")
        }
        if let password = endpoint.password {
            let login = endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            if case .error(let message) = try send(login) {
                throw RedisError.authentication("\(endpoint) refused the login: \(message)")
            }
        }
        if endpoint.database != 0, case .error(let message) = try send(["SELECT", String(endpoint.database)]) {
            throw RedisError.configuration("\(endpoint) cannot select database \(endpoint.database): \(message)")
        }
    }

    deinit { redisFree(context) }

    /// Runs one command; each argument goes to the server as one bulk string, byte for byte, so user
    /// text can never change the command's shape. An error reply is returned, not thrown.
    public func send(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try pipeline([arguments])[0]
    }

    /// Sends every command, then reads every answer: one round trip for all of them.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        try pipeline(bytes: commands.map { $0.map { Array($0.utf8) } })
    }

    /// `pipeline` with arguments as raw bytes, for values that are not text (cached results).
    public func pipeline(bytes commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        guard !isBroken else { throw RedisError.connection("the connection to \(endpoint) was lost") }
        for command in commands {
            let appended = Self.withArgv(command) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            if appended != REDIS_OK { throw failure("sending a command") }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failure("reading an answer") }
            defer { freeReplyObject(raw) }
            replies.append(RedisReply(raw.assumingMemoryBound(to: redisReply.self)))
        }
        // Every answer is read first, so the connection stays in step; then an answer that says
        // the server cannot serve anyone (not logged in, loading, read-only) fails the whole call.
        for case .error(let message) in replies {
            if let error = RedisError.serverState(message, endpoint: endpoint) { throw error }
        }
        return replies
    }

    /// The context's error as a `RedisError`; the connection is unusable from now on.
    private func failure(_ doing: String) -> RedisError {
        isBroken = true
        let code = CHiredis_error(context)
        let text = String(cString: CHiredis_errorString(context))
        // 0.14 reports a timeout as an I/O error with EAGAIN's text; 1.x has REDIS_ERR_TIMEOUT (6).
        let timedOut = code == 6 || text.contains("temporarily unavailable") || text.lowercased().contains("timed out")
        let message = "\(endpoint) failed while \(doing): \(text.isEmpty ? "error \(code)" : text)"
        return timedOut ? .timeout(message) : .connection(message)
    }

    /// Calls `body` with C views of `arguments`: argc, argv (pointers into the bytes, not
    /// NUL-terminated) and each argument's length.
    private static func withArgv<R>(_ arguments: [[UInt8]],
                                    _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        let lengths = arguments.map(\.count)
        // One buffer holds every argument, so the pointers stay valid for the whole call.
        var joined = arguments.flatMap { $0 }
        joined.append(0)  // never empty, so baseAddress exists
        return joined.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var offset = 0
            var pointers: [UnsafePointer<CChar>?] = lengths.map { length in
                defer { offset += length }
                return base + offset
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { body(Int32(arguments.count), argv.baseAddress!, $0.baseAddress!) }
            }
        }
    }

    private static func microseconds(_ duration: Duration) -> Int64 {
        Int64(duration / .microseconds(1))
    }
}

extension RedisConnection {
    /// Deletes every key that starts with `prefix` (SCAN, then UNLINK in batches); returns how many.
    /// For keys of a run's own (the self-test's), never for a shared prefix.
    public func deleteKeys(prefix: String) throws -> Int {
        // SCAN's pattern is a glob: the prefix's own glob characters must match literally.
        let pattern = prefix.reduce(into: "") { pattern, character in
            if "*?[]\\".contains(character) { pattern.append("\\") }
            pattern.append(character)
        } + "*"
        var cursor = "0"
        var removed = 0
        repeat {
            let reply = try send(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])
            guard let parts = reply.elements, parts.count == 2, let next = parts[0].text else {
                throw RedisError.unexpectedReply("SCAN answered \(reply)")
            }
            let keys = (parts[1].elements ?? []).compactMap(\.text)
            if !keys.isEmpty { removed += Int(try send(["UNLINK"] + keys).number ?? 0) }
            cursor = next
        } while cursor != "0"
        return removed
    }
}
