import Foundation

/// Where a Redis server is and how to log in, read from a `REDIS_URL`.
///
/// Accepted: `redis://[[user]:password@]host[:port][/db]` (port 6379, database 0 by default; user and
/// password percent-encoded), `unix:///path/to/redis.sock[?db=N&password=P]`, or a bare socket path
/// starting with `/`. `rediss://` is refused: this hiredis is used without TLS, and sending a password
/// in clear text to a server that expects TLS would be worse than not connecting.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    public var address: Address
    /// The ACL user (Redis 6+); nil logs in as the default user.
    public var username: String?
    /// Never printed: `description` masks it.
    public var password: String?
    public var database: Int

    public init(address: Address, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `url`; the error names what is wrong and never repeats the password.
    public init(url: String) throws(RedisError) {
        let text = url.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("/") {
            self.init(address: .unixSocket(path: text))
            return
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw RedisError.configuration("REDIS_URL is not a URL; expected redis://host:port/db or a unix socket path")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        switch scheme {
        case "redis":
            guard let host = components.host, !host.isEmpty else {
                throw RedisError.configuration("REDIS_URL has no host; expected redis://host:port/db")
            }
            let port = components.port ?? 6379
            guard (1...65_535).contains(port) else { throw RedisError.configuration("REDIS_URL's port \(port) is out of range") }
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            self.init(address: .tcp(host: host, port: port),
                      username: components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding ?? $0 },
                      password: components.password.map { $0.removingPercentEncoding ?? $0 },
                      database: try Self.database(path.isEmpty ? query["db"] : path))
        case "unix":
            guard !components.path.isEmpty else {
                throw RedisError.configuration("REDIS_URL names no socket; expected unix:///path/to/redis.sock")
            }
            self.init(address: .unixSocket(path: components.path), password: query["password"],
                      database: try Self.database(query["db"]))
        case "rediss":
            throw RedisError.configuration("""
                REDIS_URL asks for TLS (rediss://), which this build does not support; use redis:// on a trusted \
                network, a unix socket, or a local TLS tunnel such as stunnel
                """)
        default:
            throw RedisError.configuration("REDIS_URL has the scheme \"\(scheme)\"; expected redis:// or unix://")
        }
    }

    private static func database(_ text: String?) throws(RedisError) -> Int {
        guard let text, !text.isEmpty else { return 0 }
        guard let number = Int(text), number >= 0 else {
            throw RedisError.configuration("REDIS_URL's database \"\(text)\" is not a number ≥ 0")
        }
        return number
    }

    /// The URL with the password masked, for logs and health reports.
    public var description: String {
        let login = switch (username, password) {
        case (nil, nil): ""
        case (let user?, nil): "\(user)@"
        case (let user, _?): "\(user ?? ""):***@"
        }
        switch address {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "redis://\(login)\(shownHost):\(port)/\(database)"
        case .unixSocket(let path):
            return "unix://\(path)" + (database == 0 ? "" : "?db=\(database)") + (password == nil ? "" : " (with a password)")
        }
    }
}
