@testable import HTTPEndpoints
import Testing

@Suite struct EndpointSettingsTests {
    @Test func addressesAreReadWithTheirHost() throws {
        #expect(try ListenAddress(parsing: "9464") == ListenAddress(parsing: "127.0.0.1:9464"))
        let v6 = try ListenAddress(parsing: "[::1]:9464")
        #expect(v6.host == "::1" && v6.port == 9464 && v6.isLoopback && v6.description == "[::1]:9464")
        #expect(try ListenAddress(parsing: "localhost:80").isLoopback)
        #expect(try ListenAddress(parsing: "127.0.0.2:80").isLoopback)
        #expect(try !ListenAddress(parsing: "0.0.0.0:9464").isLoopback)
        #expect(try !ListenAddress(parsing: "192.168.1.5:9464").isLoopback)
        #expect(try !ListenAddress(parsing: "127.example.com:9464").isLoopback)
        #expect(try !ListenAddress(parsing: "127.a.example.com:9464").isLoopback, "four labels, but not four numbers")
        #expect(try !ListenAddress(parsing: "127.0.0.256:9464").isLoopback)
    }

    @Test func aRequestNamesThisMachineOnlyByALoopbackNameOrAddress() {
        for authority in ["localhost", "LOCALHOST:9464", "127.0.0.1:9464", "127.1.2.3", "[::1]:9464", "[::1]"] {
            #expect(ListenAddress.namesLoopback(authority: authority), "\(authority)")
        }
        for authority in ["evil.example:9464", "localhost.evil.example:80", "127.a.evil.example:80", "[::2]:9464",
                          "[::1", "", "0.0.0.0:9464", "127.0.0.1.evil.example"] {
            #expect(!ListenAddress.namesLoopback(authority: authority), "\(authority)")
        }
        for bad in ["", ":9464", "host:", "host:0", "host:65536", "host:http", "[::1]9464", "a b:1"] {
            #expect(throws: ListenAddressError.self, "\(bad)") { try ListenAddress(parsing: bad) }
        }
    }

    @Test func aTokenIsAcceptedOnlyWhole() throws {
        let token = try BearerToken("s3cret-token-0123456789\n", source: "test")
        #expect(token.accepts(authorization: "Bearer s3cret-token-0123456789"))
        #expect(token.accepts(authorization: "bearer s3cret-token-0123456789"))
        #expect(!token.accepts(authorization: nil))
        #expect(!token.accepts(authorization: "Bearer s3cret-token-012345678"))
        #expect(!token.accepts(authorization: "Bearer s3cret-token-01234567890"))
        #expect(!token.accepts(authorization: "Bearer S3cret-token-0123456789"))
        #expect(!token.accepts(authorization: "Basic s3cret-token-0123456789"))
        #expect(!token.accepts(authorization: "s3cret-token-0123456789"))
        #expect("\(token)" == "<token>", "the token never prints")
    }

    @Test func weakOrUnsendableTokensAreRefused() throws {
        #expect(throws: BearerTokenError.self) { try BearerToken("short", source: "test") }
        #expect(throws: BearerTokenError.self) { try BearerToken("has a space in the middle ok", source: "test") }
        #expect(try BearerToken.configured(file: nil, environment: [:]) == nil)
        let fromEnvironment = try BearerToken.configured(file: nil, environment: ["MCP_RAG_HTTP_TOKEN": "0123456789abcdef"])
        #expect(fromEnvironment?.accepts(authorization: "Bearer 0123456789abcdef") == true)
        #expect(throws: BearerTokenError.self) { try BearerToken.configured(file: "/nonexistent/token", environment: [:]) }
    }
}
