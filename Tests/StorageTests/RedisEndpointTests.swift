import Storage
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
