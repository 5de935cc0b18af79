import Foundation
import Logging
import MCP
import ServiceLifecycle
import Telemetry

/// MCP's Streamable HTTP endpoint (`/mcp`, protocol 2025-11-25) over one knowledge base: its
/// sessions, each an SDK `Server` behind its own `ToolCallRouter` on an `HTTPSessionTransport`,
/// and the checks every request passes first. Framework-free: an HTTP server hands each request
/// over as the SDK's `HTTPRequest` and writes back the `HTTPAnswer`.
///
/// - POST carries one JSON-RPC message; `initialize` without a session opens one and answers with
///   its `Mcp-Session-Id`, which every later request must carry.
/// - GET is refused with 405: the server sends nothing that is not part of a request's answer
///   (progress travels in the request's own event stream), which the specification allows.
/// - DELETE ends the session: its calls in flight are cancelled.
///
/// Sessions that receive nothing for `idleTimeout` are closed; at `maxSessions` an `initialize`
/// is refused with 503 until one ends, so abandoned sessions cannot exhaust memory.
///
/// As a service it closes idle sessions a few times per idle period and, at a graceful shutdown,
/// takes no new session or request, lets the calls in flight answer (the long ones stopped,
/// saying so) and ends every session.
public actor MCPHTTPSessions: Service {
    public struct Policy: Sendable {
        public var maxSessions: Int
        public var idleTimeout: Duration
        public var maxRequestsInFlightPerSession: Int
        /// Objects and arrays nested deeper than this are refused as soon as the reader meets one
        /// (at most `JSONReader.maxDepth`, the reader's own limit).
        public var maxJSONNesting: Int

        public init(maxSessions: Int = 256, idleTimeout: Duration = .seconds(30 * 60), maxRequestsInFlightPerSession: Int = 16,
                    maxJSONNesting: Int = 64) {
            self.maxSessions = maxSessions
            self.idleTimeout = idleTimeout
            self.maxRequestsInFlightPerSession = maxRequestsInFlightPerSession
            self.maxJSONNesting = maxJSONNesting
        }
    }

    private struct Session {
        let transport: HTTPSessionTransport
        let server: Server
        let router: ToolCallRouter
    }

    public nonisolated let policy: Policy
    private nonisolated let mcpServer: MCPRagServer
    private nonisolated let checks: any HTTPRequestValidationPipeline
    private nonisolated let logger: Logger
    private nonisolated let metrics: RagMetrics
    private var sessions: [String: Session] = [:]
    /// Sessions being started: counted against the cap while `open()` waits for them.
    private var opening = 0
    private var shuttingDown = false
    /// How long a graceful shutdown waits for a session's calls before it stops the session anyway:
    /// short enough that the whole shutdown, with the counts written after it, ends within 10 s.
    static let shutdownPatience = Duration.seconds(5)

    /// `checks` vets each request's headers (see `HTTPRequestChecks`).
    public init(server: MCPRagServer, policy: Policy, checks: any HTTPRequestValidationPipeline, metrics: RagMetrics,
                logger: Logger) {
        mcpServer = server
        self.policy = policy
        self.checks = checks
        self.metrics = metrics
        self.logger = logger
        metrics.sessionsOpen(0)
    }

    /// Answers one request to the MCP endpoint, its body already read within the size limit.
    public nonisolated func handle(method: String, headers: [String: String], body: Data?) async -> HTTPAnswer {
        await handle(HTTPRequest(method: method, headers: headers, body: body))
    }

    nonisolated func handle(_ request: HTTPRequest) async -> HTTPAnswer {
        let sessionID = request.header(HTTPHeaderName.sessionID)
        switch request.method.uppercased() {
        case "POST":
            return await post(request, sessionID: sessionID)
        case "DELETE":
            if let refusal = checks.validate(request, context: context(request, sessionID: sessionID, initializing: false)) {
                return HTTPAnswer(refusal)
            }
            guard let sessionID else { return Self.missingSession }
            if case .failure(let refusal) = await sessionTransport(sessionID) { return refusal.answer }
            return await close(sessionID) ? HTTPAnswer(status: 200, headers: [HTTPHeaderName.sessionID: sessionID]) : Self.unknownSession
        default:
            // GET included: there is no stream of the server's own messages to open.
            return .refusal(405, "Method Not Allowed: POST a JSON-RPC message to this endpoint, or DELETE a session",
                            extraHeaders: ["Allow": "POST, DELETE"])
        }
    }

    private nonisolated func post(_ request: HTTPRequest, sessionID: String?) async -> HTTPAnswer {
        guard let body = request.body, !body.isEmpty else {
            return .refusal(400, code: -32700, "Parse error: the request has no body; POST one JSON-RPC message")
        }
        // Read once, here: the session's router takes this reading with the message.
        let frame = IncomingFrame.read(body, maxDepth: policy.maxJSONNesting)
        if case .reject(let code, let message, let id) = frame {
            // No request (not JSON, a batch, no method…): refused on its own POST.
            return .refusal(400, code: code, message, id: id, session: sessionID)
        }
        let initializing = frame.isInitialize
        if let refusal = checks.validate(request, context: context(request, sessionID: sessionID, initializing: initializing)) {
            return HTTPAnswer(refusal)
        }
        if sessionID == nil, case .refusedRequest(let id, let code, let message) = frame {
            // Perhaps an initialize the reading refused: its own error says more than "no session".
            return .refusal(400, code: code, message, id: id)
        }
        let transport: HTTPSessionTransport
        if initializing && sessionID == nil {
            switch await open() {
            case .success(let opened): transport = opened
            case .failure(let refusal): return refusal.answer
            }
        } else {
            guard let sessionID else { return Self.missingSession }
            switch await sessionTransport(sessionID) {
            case .success(let found): transport = found
            case .failure(let refusal): return refusal.answer
            }
        }
        return await transport.exchange(body, frame: frame)
    }

    private nonisolated func context(_ request: HTTPRequest, sessionID: String?, initializing: Bool) -> HTTPValidationContext {
        HTTPValidationContext(httpMethod: request.method.uppercased(), sessionID: sessionID, isInitializationRequest: initializing,
                              supportedProtocolVersions: Version.supported)
    }

    private struct Refusal: Error {
        let answer: HTTPAnswer
    }

    /// A new session, started, or why there is none.
    private func open() async -> Result<HTTPSessionTransport, Refusal> {
        guard !shuttingDown else { return .failure(Self.shuttingDownRefusal) }
        guard sessions.count + opening < policy.maxSessions else {
            logger.warning("a session was refused: the limit of open sessions is reached", metadata: ["rag.sessions": "\(sessions.count)"])
            return .failure(Refusal(answer: .refusal(503, "Too many open sessions (\(policy.maxSessions)): the server takes no new one "
                + "until a session ends or stays idle for \(policy.idleTimeout); close sessions you no longer use (DELETE)",
                extraHeaders: ["Retry-After": "30"])))
        }
        let id = Self.newSessionID()
        let transport = HTTPSessionTransport(sessionID: id, maxRequestsInFlight: policy.maxRequestsInFlightPerSession, logger: logger)
        // Starting suspends: other requests (more initializes, the shutdown) run meanwhile.
        opening += 1
        defer { opening -= 1 }
        do {
            let (server, router) = try await mcpServer.startRouted(transport)
            guard !shuttingDown else {
                await server.stop()
                return .failure(Self.shuttingDownRefusal)
            }
            sessions[id] = Session(transport: transport, server: server, router: router)
            metrics.sessionsOpen(sessions.count)
            return .success(transport)
        } catch {
            logger.error("a session could not start", metadata: ["rag.error": "\(error)"])
            return .failure(Refusal(answer: .refusal(500, code: -32603, "Internal error: the session could not start")))
        }
    }

    /// The transport of the session `sessionID`, or why there is none.
    private func sessionTransport(_ sessionID: String) -> Result<HTTPSessionTransport, Refusal> {
        if let transport = sessions[sessionID]?.transport { return .success(transport) }
        return .failure(shuttingDown ? Self.shuttingDownRefusal : Refusal(answer: Self.unknownSession))
    }

    /// Ends a session: its calls in flight are cancelled. False when there is none with that id.
    private func close(_ sessionID: String) async -> Bool {
        guard let session = sessions.removeValue(forKey: sessionID) else { return false }
        metrics.sessionsOpen(sessions.count)
        await session.server.stop()
        return true
    }

    /// Closes the sessions idle for longer than the policy allows; returns how many.
    @discardableResult
    public func closeIdleSessions(now: ContinuousClock.Instant = .now) async -> Int {
        var closed = 0
        for (id, session) in sessions {
            // Checked and closed in one step of the transport: a request arriving meanwhile either
            // came first (not idle) or finds the session closed (404).
            guard await session.transport.closeIfIdle(for: policy.idleTimeout, now: now) else { continue }
            if sessions[id] != nil { _ = await close(id) }
            closed += 1
        }
        if closed > 0 { logger.info("closed idle sessions", metadata: ["rag.sessions": "\(closed)"]) }
        return closed
    }

    public func run() async throws {
        let period = min(policy.idleTimeout / 4, .seconds(30))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
            await closeIdleSessions()
        }
        await shutDown()
    }

    /// A graceful shutdown: no new session or message is taken; the calls in flight answer (the
    /// long ones stopped, saying so); then every session ends.
    public func shutDown() async {
        guard !shuttingDown else { return }
        shuttingDown = true
        let open = sessions
        await withTaskGroup(of: Void.self) { group in
            for session in open.values {
                group.addTask {
                    await session.transport.stopTakingRequests()
                    await session.router.shutDown()
                    await Self.waitForCalls(of: session.server)
                    await session.transport.close(because: .serverShuttingDown)
                    await session.server.stop()
                }
            }
        }
        sessions.removeAll()
        metrics.sessionsOpen(0)
    }

    /// Waits until `server`'s message loop ends (its router has answered every call in flight),
    /// or `shutdownPatience` passes: then the loop is stopped, so a call that never answers cannot
    /// hold the shutdown up.
    private static func waitForCalls(of server: Server) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await server.waitUntilCompleted() }
            group.addTask {
                // Cancelled (and so ended early) when the loop ends first.
                guard (try? await Task.sleep(for: shutdownPatience)) != nil else { return }
                await server.stop()
            }
            await group.next()
            group.cancelAll()
        }
    }

    private static let shuttingDownRefusal = Refusal(
        answer: .refusal(503, "The server is shutting down; try again once it is back", extraHeaders: ["Retry-After": "5"]))

    /// 128 random bits in hex: a session id nobody can guess (the system generator is a CSPRNG).
    private static func newSessionID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let word = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - word.count) + word
        }.joined()
    }

    private static let missingSession = HTTPAnswer.refusal(
        400, "Bad Request: no Mcp-Session-Id header; initialize a session first, then send its id with each request")
    private static let unknownSession = HTTPAnswer.refusal(
        404, "Session not found: it expired, was deleted, or never existed; initialize a new session")
}
