import Foundation

/// Where an HTTP endpoint listens, from `HOST:PORT`, `[IPv6]:PORT` or a bare `PORT` (on
/// 127.0.0.1).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    /// Parses `text`; throws `ListenAddressError` saying what is wrong.
    public init(parsing text: String) throws {
        let text = text.trimmingCharacters(in: .whitespaces)
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ListenAddressError(text, "an IPv6 address is written [ADDRESS]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            host = "127.0.0.1"
            port = Substring(text)
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace) else { throw ListenAddressError(text, "the host is empty") }
        guard let number = Int(port), (1...65535).contains(number) else {
            throw ListenAddressError(text, "the port must be a number from 1 to 65535")
        }
        self.host = String(host)
        self.port = number
    }

    /// True for addresses only this machine can reach: 127.0.0.0/8, ::1 and localhost. Any other
    /// address may be reachable from the network, which mcp-rag serves only with a token.
    public var isLoopback: Bool { Self.isLoopback(host: host) }

    /// Whether `host` (a name or an address, IPv6 without brackets) can only be this machine.
    public static func isLoopback(host: String) -> Bool {
        // Four numbers: a name such as 127.evil.example.com is not an address.
        let octets = host.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        return host.lowercased() == "localhost" || host == "::1"
            || (octets.count == 4 && octets[0] == 127 && !octets.contains(nil))
    }

    /// Whether the authority `text` (`HOST`, `HOST:PORT` or `[IPv6]:PORT`, as in a `Host` header
    /// or an origin without its scheme) names this machine.
    static func namesLoopback(authority text: String) -> Bool {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return false }
            return isLoopback(host: String(text[text.index(after: text.startIndex)..<close]))
        }
        return isLoopback(host: String(text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0]))
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// An address that could not be read.
public struct ListenAddressError: Error, CustomStringConvertible {
    public let description: String

    init(_ text: String, _ reason: String) {
        description = "\"\(text.prefix(100))\" is not an address to listen on: \(reason) (give HOST:PORT, e.g. 127.0.0.1:9464)"
    }
}
