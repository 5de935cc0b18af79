import Foundation

/// Where a Redis server is and how to log in, read from a `REDIS_URL`.
///
/// Accepted, and nothing else:
/// - `redis://[[user:]password@]host[:port][/db]` (port 6379, database 0 by default; the database
///   may also be given as `?db=N`). Userinfo without a colon is the password, as in the IANA
///   provisional `redis` scheme: AUTH always needs a password, and a user alone could not log in.
///   A user with an empty password (`redis://user:@host`) is refused for the same reason.
///   User and password are percent-decoded once.
/// - `unix:///path/to/redis.sock[?db=N&password=P]`, the password also accepted as userinfo
///   (`unix://[[user:]password@]/path…`, not both); the URL names no host but `localhost`.
/// - A bare socket path starting with `/`, with the same optional `?db=N&password=P` (the path is
///   everything before the first `?`, taken byte for byte).
///
/// `rediss://` is refused: this hiredis is used without TLS, and sending a password in clear text
/// to a server that expects TLS would be worse than not connecting.
///
/// The password is never printed: `description` masks it in every form, and no parse error
/// repeats it.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    public var address: Address
    /// The ACL user (Redis 6+), sent with the password (`AUTH user password`); nil logs in as the
    /// default user (`AUTH password`). A URL never gives a user without a password.
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

    /// Parses `url` (see the type's summary for the forms); the error names what is wrong and never
    /// repeats the password.
    public init(url: String) throws(RedisError) {
        let text = url.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("/") {
            // The path is taken as it is (no percent-decoding): only a query after it is parsed.
            let path = text.prefix { $0 != "?" }
            let query = try Self.queryItems(text.dropFirst(path.count + 1))
            try self.init(socket: String(path), login: (nil, nil), query: query)
            return
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw RedisError.configuration("REDIS_URL is not a URL; expected redis://host:port/db or a unix socket path")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        switch scheme {
        case "redis":
            guard var host = components.host, !host.isEmpty else {
                throw RedisError.configuration("REDIS_URL has no host; expected redis://host:port/db")
            }
            // An IPv6 literal comes with its brackets from some Foundations; hiredis wants the address.
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let port = components.port ?? 6379
            guard (1...65_535).contains(port) else { throw RedisError.configuration("REDIS_URL's port \(port) is out of range") }
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            let (username, password) = try Self.login(components)
            self.init(address: .tcp(host: host, port: port), username: username, password: password,
                      database: try Self.database(path.isEmpty ? query["db"] : path))
        case "unix":
            guard !components.path.isEmpty else {
                throw RedisError.configuration("REDIS_URL names no socket; expected unix:///path/to/redis.sock")
            }
            guard [nil, "", "localhost"].contains(components.host?.lowercased()) else {
                throw RedisError.configuration("REDIS_URL names a host in a unix:// URL; expected unix:///path/to/redis.sock (three slashes)")
            }
            try self.init(socket: components.path, login: try Self.login(components), query: query)
        case "rediss":
            throw RedisError.configuration("""
                REDIS_URL asks for TLS (rediss://), which this build does not support; use redis:// on a trusted \
                network, a unix socket, or a local TLS tunnel such as stunnel
                """)
        default:
            throw RedisError.configuration("REDIS_URL has the scheme \"\(scheme)\"; expected redis:// or unix://")
        }
    }

    /// A socket endpoint from its path, the URL's login and its query (`db`, `password`).
    private init(socket path: String, login: (username: String?, password: String?), query: [String: String]) throws(RedisError) {
        var password = login.password
        if let fromQuery = query["password"], !fromQuery.isEmpty {
            guard password == nil else {
                throw RedisError.configuration("REDIS_URL gives the password twice, in the login and as ?password=; keep one")
            }
            password = fromQuery
        }
        self.init(address: .unixSocket(path: path), username: login.username, password: password,
                  database: try Self.database(query["db"]))
    }

    /// The user and password of the URL's userinfo, percent-decoded once. Userinfo without a colon
    /// is the password (`redis://PASSWORD@host`); empty parts are absent; a user needs a password.
    private static func login(_ components: URLComponents) throws(RedisError) -> (username: String?, password: String?) {
        func decoded(_ part: String?) -> String? {
            guard let part, !part.isEmpty else { return nil }
            return part.removingPercentEncoding ?? part
        }
        let user = decoded(components.percentEncodedUser)
        guard components.percentEncodedPassword != nil else { return (nil, user) }
        let password = decoded(components.percentEncodedPassword)
        if user != nil, password == nil {
            throw RedisError.configuration("""
                REDIS_URL names a user but no password; Redis's AUTH needs one: redis://user:PASSWORD@host \
                (or redis://PASSWORD@host for the default user)
                """)
        }
        return (user, password)
    }

    /// The items of a bare socket path's query (`db=1&password=P`), decoded once.
    private static func queryItems(_ query: Substring) throws(RedisError) -> [String: String] {
        guard !query.isEmpty else { return [:] }
        guard let items = URLComponents(string: "unix:///?" + query)?.queryItems else {
            throw RedisError.configuration("REDIS_URL's query after the socket path is malformed; expected /path/to/redis.sock?db=N&password=P")
        }
        return Dictionary(items.map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
    }

    private static func database(_ text: String?) throws(RedisError) -> Int {
        guard let text, !text.isEmpty else { return 0 }
        guard let number = Int(text), number >= 0 else {
            throw RedisError.configuration("REDIS_URL's database \"\(text)\" is not a number ≥ 0")
        }
        return number
    }

    /// What must never be shown: the password.
    public var secrets: [String] { password.map { [$0] } ?? [] }

    /// The URL with the password masked, for logs and health reports; the same in every form the
    /// URL was given in.
    public var description: String {
        switch address {
        case .tcp(let host, let port):
            let login = switch (username, password) {
            case (nil, nil): ""
            case (let user?, nil): "\(user)@"
            case (let user, _?): "\(user ?? ""):***@"
            }
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "redis://\(login)\(shownHost):\(port)/\(database)"
        case .unixSocket(let path):
            let login = switch (username, password) {
            case (nil, nil): ""
            case (let user?, nil): " (as \(user))"
            case (nil, _?): " (with a password)"
            case (let user?, _?): " (as \(user), with a password)"
            }
            return "unix://\(path)" + (database == 0 ? "" : "?db=\(database)") + login
        }
    }
}
