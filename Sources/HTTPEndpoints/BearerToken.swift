import Foundation

/// The secret an HTTP client must send as `Authorization: Bearer TOKEN`. It is never printed: its
/// description is a placeholder, and it is compared in constant time, so neither the logs nor the
/// time of an answer tell anything about it.
public struct BearerToken: Sendable, CustomStringConvertible {
    private let bytes: [UInt8]

    /// Fewer characters than this are refused: a short token can be guessed.
    public static let minimumLength = 16

    /// The token `text` (surrounding whitespace and a final newline removed); throws when it is
    /// shorter than `minimumLength` or holds characters a header cannot carry.
    public init(_ text: String, source: String) throws {
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= Self.minimumLength else {
            throw BearerTokenError("the token from \(source) has \(token.count) characters; give at least \(Self.minimumLength)")
        }
        guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw BearerTokenError("the token from \(source) holds spaces or characters an HTTP header cannot carry")
        }
        bytes = Array(token.utf8)
    }

    /// The token from the file at `path` when given, else from `MCP_RAG_HTTP_TOKEN`; nil when
    /// neither is set.
    public static func configured(file path: String?, environment: [String: String]) throws -> BearerToken? {
        if let path {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw BearerTokenError("the token file \(path) cannot be read")
            }
            return try BearerToken(text, source: "the file \(path)")
        }
        guard let text = environment["MCP_RAG_HTTP_TOKEN"], !text.isEmpty else { return nil }
        return try BearerToken(text, source: "MCP_RAG_HTTP_TOKEN")
    }

    /// True when `header` (an `Authorization` value) is `Bearer` and this token.
    public func accepts(authorization header: String?) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let offered = Array(header.dropFirst(7).utf8)
        // Every byte is looked at whatever the first difference, and lengths are compared last.
        var difference = UInt8(offered.count == bytes.count ? 0 : 1)
        for index in 0..<bytes.count {
            difference |= bytes[index] ^ (index < offered.count ? offered[index] : 0)
        }
        return difference == 0
    }

    public var description: String { "<token>" }
}

/// A token that cannot be used.
public struct BearerTokenError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
