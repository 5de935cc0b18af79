import Redis
import Testing

@Suite struct RedisEndpointTests {
    @Test func readsHostPortDatabaseAndLogin() throws {
        let plain = try RedisEndpoint(url: "redis://cache.internal")
        #expect(plain == RedisEndpoint(address: .tcp(host: "cache.internal", port: 6379)))
        let full = try RedisEndpoint(url: "redis://app:p%40ss%3Aword@10.0.0.5:6380/3")
        #expect(full.address == .tcp(host: "10.0.0.5", port: 6380))
        #expect(full.username == "app")
        #expect(full.password == "p@ss:word")
        #expect(full.database == 3)
        let passwordOnly = try RedisEndpoint(url: "redis://:secret@localhost:7000")
        #expect(passwordOnly.username == nil && passwordOnly.password == "secret" && passwordOnly.database == 0)
    }

    @Test func readsUnixSockets() throws {
        #expect(try RedisEndpoint(url: "/run/redis/redis.sock") == RedisEndpoint(address: .unixSocket(path: "/run/redis/redis.sock")))
        let url = try RedisEndpoint(url: "unix:///run/redis.sock?db=2&password=pw")
        #expect(url == RedisEndpoint(address: .unixSocket(path: "/run/redis.sock"), password: "pw", database: 2))
    }

    @Test func theDescriptionNeverShowsThePassword() throws {
        let endpoint = try RedisEndpoint(url: "redis://app:hunter2@10.0.0.5:6380/3")
        #expect(endpoint.description == "redis://app:***@10.0.0.5:6380/3")
        #expect(try RedisEndpoint(url: "redis://:hunter2@h").description == "redis://:***@h:6379/0")
        #expect(!(try RedisEndpoint(url: "unix:///s.sock?password=hunter2")).description.contains("hunter2"))
    }

    /// Every form the parser accepts that carries a password: what it reads, and what it shows.
    @Test(arguments: [
        ("redis://PASSWORD@h:6380/2", RedisEndpoint(address: .tcp(host: "h", port: 6380), password: "PASSWORD", database: 2),
         "redis://:***@h:6380/2"),
        ("redis://:PASSWORD@h", RedisEndpoint(address: .tcp(host: "h", port: 6379), password: "PASSWORD"), "redis://:***@h:6379/0"),
        ("redis://app:PASSWORD@h/1", RedisEndpoint(address: .tcp(host: "h", port: 6379), username: "app", password: "PASSWORD", database: 1),
         "redis://app:***@h:6379/1"),
        ("redis://PASSWORD@h?db=3", RedisEndpoint(address: .tcp(host: "h", port: 6379), password: "PASSWORD", database: 3),
         "redis://:***@h:6379/3"),
        ("redis://PASS%2540WORD%2D@[::1]", RedisEndpoint(address: .tcp(host: "::1", port: 6379), password: "PASS%40WORD-"),
         "redis://:***@[::1]:6379/0"),
        ("unix:///run/r.sock?password=PASSWORD&db=2", RedisEndpoint(address: .unixSocket(path: "/run/r.sock"), password: "PASSWORD", database: 2),
         "unix:///run/r.sock?db=2 (with a password)"),
        ("unix://PASSWORD@/run/r.sock", RedisEndpoint(address: .unixSocket(path: "/run/r.sock"), password: "PASSWORD"),
         "unix:///run/r.sock (with a password)"),
        ("unix://app:PASSWORD@localhost/run/r.sock", RedisEndpoint(address: .unixSocket(path: "/run/r.sock"), username: "app", password: "PASSWORD"),
         "unix:///run/r.sock (as app, with a password)"),
        ("unix:/run/r.sock?password=PASSWORD", RedisEndpoint(address: .unixSocket(path: "/run/r.sock"), password: "PASSWORD"),
         "unix:///run/r.sock (with a password)"),
        ("/run/r.sock?password=PASSWORD&db=4", RedisEndpoint(address: .unixSocket(path: "/run/r.sock"), password: "PASSWORD", database: 4),
         "unix:///run/r.sock?db=4 (with a password)"),
        ("/run/my%20dir/r.sock?db=1&password=PASS%26WORD", RedisEndpoint(address: .unixSocket(path: "/run/my%20dir/r.sock"), password: "PASS&WORD", database: 1),
         "unix:///run/my%20dir/r.sock?db=1 (with a password)"),
    ])
    func everyFormWithAPasswordIsReadAndMasked(url: String, expected: RedisEndpoint, shown: String) throws {
        let endpoint = try RedisEndpoint(url: url)
        #expect(endpoint == expected)
        #expect(endpoint.description == shown)
        #expect(!endpoint.description.contains("PASS") && !"\(endpoint)".contains("PASS"))
        #expect(endpoint.secrets == [try #require(expected.password)])
    }

    @Test func emptyLoginsAreNoLogin() throws {
        for url in ["redis://@h", "redis://:@h", "unix:///s.sock?password=", "/s.sock"] {
            let endpoint = try RedisEndpoint(url: url)
            #expect(endpoint.username == nil && endpoint.password == nil && endpoint.secrets.isEmpty, "\(url)")
        }
    }

    @Test(arguments: [
        ("redis://app:@h", "a user but no password"),
        ("unix://app:@/s.sock", "a user but no password"),
        ("unix://:hunter2@/s.sock?password=hunter2", "twice"),
        ("unix://cache/s.sock?password=hunter2", "three slashes"),
    ])
    func loginsThatCannotWorkAreRefusedWithoutThePassword(url: String, phrase: String) throws {
        let error = try #require(throws: RedisError.self) { try RedisEndpoint(url: url) }
        #expect(error.description.contains(phrase) && error.description.contains("REDIS_URL"), "\(error)")
        #expect(!error.description.contains("hunter2"))
    }

    @Test(arguments: [
        ("rediss://h:6380", "TLS"),
        ("http://h", "scheme \"http\""),
        ("redis://h/x", "database \"x\""),
        ("redis://h/-1", "database \"-1\""),
        ("redis://:6379", "no host"),
        ("redis://h:0", "out of range"),
        ("unix://", "no socket"),
    ])
    func unusableURLsAreClearErrors(url: String, phrase: String) throws {
        let error = try #require(throws: RedisError.self) { try RedisEndpoint(url: url) }
        #expect(error.description.contains(phrase), "\(error)")
        #expect(!error.isTransient)
    }

    @Test func aBadURLDoesNotRepeatItsPassword() throws {
        let error = try #require(throws: RedisError.self) { try RedisEndpoint(url: "rediss://:hunter2@h") }
        #expect(!error.description.contains("hunter2"))
    }
}
