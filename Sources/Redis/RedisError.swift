import Redaction
import Storage
/// Why a Redis call failed. The message never holds the password: it is passed through
/// `SecretRedactor` when the error is made, as it may quote the server (an error reply, hiredis's
/// `errstr`).
public struct RedisError: Error, CustomStringConvertible, Sendable, Equatable {
    private enum Code: Sendable, Equatable {
        case configuration, connection, timeout, authentication, server, protocolViolation
    }

    private let code: Code
    public let message: String

    private init(code: Code, message: String) {
        self.code = code
        self.message = SecretRedactor.redact(message)
    }

    public var description: String { message }

    /// A `REDIS_URL` that cannot be served.
    public static func configuration(_ message: String) -> RedisError { RedisError(code: .configuration, message: message) }
    /// The server could not be reached, or the connection broke.
    public static func connection(_ message: String) -> RedisError { RedisError(code: .connection, message: message) }
    /// No answer within the command timeout.
    public static func timeout(_ message: String) -> RedisError { RedisError(code: .timeout, message: message) }
    /// The server refused the login (wrong password or user, or one was required).
    public static func authentication(_ message: String) -> RedisError { RedisError(code: .authentication, message: message) }
    /// The server answered a command with an error reply.
    public static func server(_ message: String) -> RedisError { RedisError(code: .server, message: message) }
    /// The answer was not what the command returns.
    public static func unexpectedReply(_ message: String) -> RedisError { RedisError(code: .protocolViolation, message: message) }

    /// The error an error reply stands for when it is about the server or the login rather than
    /// the command (so every command would get it); nil for an ordinary error reply.
    static func serverState(_ message: String, endpoint: RedisEndpoint) -> RedisError? {
        let code = message.prefix { !$0.isWhitespace }
        switch code {
        case "NOAUTH", "WRONGPASS", "NOPERM":
            return .authentication("\(endpoint) refused the login: \(message) (give the password in REDIS_URL as redis://:PASSWORD@host:port)")
        case "LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN":
            return .connection("\(endpoint) cannot answer yet: \(message)")
        case "READONLY", "MISCONF", "OOM":
            return .connection("\(endpoint) refuses writes: \(message)")
        default:
            return nil
        }
    }

    /// True when the same call may succeed later on its own: the server was unreachable, slow or restarting.
    public var isTransient: Bool { code == .connection || code == .timeout }
    /// True when the dependency itself is in trouble, so the call counts against its circuit breaker.
    /// A wrong password counts too: every call will fail until someone fixes it.
    public var countsAsOutage: Bool { code != .configuration && code != .server && code != .protocolViolation }
    public var isAuthentication: Bool { code == .authentication }
}
