import CHiredis
import Redaction
import Storage

/// A Redis answer, copied out of hiredis's reply tree (which is freed at once).
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int)
    case null
    case array([RedisReply])
    case error(String)

    /// Copies `reply` recursively; types from RESP3 that 0.14 lacks (doubles, maps) come as their text.
    init(_ reply: UnsafePointer<redisReply>) {
        let value = reply.pointee
        func bytes() -> [UInt8] {
            guard let pointer = value.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: pointer, count: Int(value.len)))
        }
        switch value.type {
        case REDIS_REPLY_STRING: self = .string(bytes())
        case REDIS_REPLY_STATUS: self = .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: self = .integer(Int(value.integer))
        case REDIS_REPLY_NIL: self = .null
        // An error reply is the server's words, quoted in messages (WRONGPASS, a proxy's complaint):
        // no secret survives the copy.
        case REDIS_REPLY_ERROR: self = .error(SecretRedactor.redact(String(decoding: bytes(), as: UTF8.self)))
        case REDIS_REPLY_ARRAY:
            self = .array((0..<Int(value.elements)).compactMap { index in value.element[index].map { RedisReply(UnsafePointer($0)) } })
        default: self = value.str == nil ? .null : .string(bytes())
        }
    }

    /// The bulk string as UTF-8 text (invalid bytes replaced), nil for anything else.
    public var text: String? {
        if case .string(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }

    /// The integer, or a bulk string holding one (`ZSCORE`, `WITHSCORES` scores), nil otherwise.
    public var number: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .string: text.flatMap(Double.init)
        default: nil
        }
    }

    public var elements: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}
