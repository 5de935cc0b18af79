@testable import Chroma
import Foundation
@testable import HTTPClient
@testable import Redaction
@testable import Redis
@testable import Storage
import Testing
import TestSupport

@Suite struct SecretRedactorTests {
    private let token = "tok-3f9/a b+c%d"
    private var redactor: SecretRedactor { SecretRedactor(secrets: [token, "Bearer \(token)", "pw"]) }

    @Test func everySecretIsReplacedByValueWhereverItStands() {
        let text = "refused tok-3f9/a b+c%d; user pw, again tok-3f9/a b+c%d."
        #expect(redactor.redact(text) == "refused [redacted]; user [redacted], again [redacted].")
    }

    @Test(arguments: [
        "tok-3f9%2Fa%20b%2Bc%25d",        // percent-encoded, upper-case hex
        "tok-3f9%2fa+b%2bc%25d",          // lower-case hex, + for the space
        "%74%6F%6B%2D%33%66%39%2F%61%20%62%2B%63%25%64",  // every byte encoded
        "tok-3f9\\/a b+c%d",              // escaped in a JSON string
        "\\u0074ok-3f9/a\\u0020b+c%d",    // \u escapes
        "tok%2D3f9/a b+c%25%64",          // '%' itself encoded
    ])
    func encodedFormsAreReplacedToo(form: String) {
        let redacted = redactor.redact("x-chroma-token was \(form) (wrong)")
        #expect(redacted == "x-chroma-token was [redacted] (wrong)", "\(form) → \(redacted)")
    }

    @Test func theBearerHeaderValueGoesWhole() {
        #expect(redactor.redact("Authorization: Bearer \(token)") == "Authorization: [redacted]")
        #expect(redactor.redact("Authorization: Bearer%20tok-3f9%2Fa%20b%2Bc%25d") == "Authorization: [redacted]")
    }

    @Test func redactingTwiceChangesNothing() {
        // "a" is part of the mask itself: the mask is passed over, not redacted inside.
        let short = SecretRedactor(secrets: ["a", "pw"])
        let once = short.redact("a pw [redacted] abc")
        #expect(once == "[redacted] [redacted] [redacted] [redacted]bc")
        #expect(short.redact(once) == once)
    }

    @Test func textWithoutSecretsIsUnchanged() {
        #expect(SecretRedactor().redact("HTTP 500: tok") == "HTTP 500: tok")
        #expect(SecretRedactor(secrets: [""]).secrets.isEmpty)
        #expect(redactor.redact("p w, %pw is gone, 100% kept") == "p w, %[redacted] is gone, 100% kept")
    }

    @Test func aCutNeverLeavesPartOfASecret() {
        let body = Array((String(repeating: "x", count: 295) + token + " tail").utf8)
        let cut = redactor.redact(bytes: body, limit: 300)
        #expect(cut == String(repeating: "x", count: 295) + "[redacted]")
        // Secrets longer than the mask shrink the text, so the cut falls further into the answer
        // than its first 300 bytes: a long secret found there is still replaced whole.
        let medium = String(repeating: "Q", count: 40), long = "L0ng-" + String(repeating: "s", count: 200)
        let many = SecretRedactor(secrets: [medium, long])
        let crowded = Array((String(repeating: medium, count: 29) + long + "after").utf8)
        #expect(many.redact(bytes: crowded, limit: 300) == String(repeating: "[redacted]", count: 30))
        // A long answer is cut to about the limit whatever its length.
        #expect(redactor.redact(bytes: [UInt8](repeating: 65, count: 1 << 20), limit: 300).utf8.count == 300)
    }

    @Test func randomEchoesNeverShowTheSecret() {
        var generator = SeededGenerator(seed: 24)
        let secret = "S3cr/et %+ \"tok\"-\(UInt32.random(in: 0...UInt32.max, using: &generator))"
        let redactor = SecretRedactor(secrets: [secret])
        for _ in 0..<500 {
            var text = ""
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                text += String((0..<Int.random(in: 0...40, using: &generator)).map { _ in
                    Character(Unicode.Scalar(UInt8.random(in: 32...126, using: &generator)))
                })
                text += Self.encode(secret, using: &generator)
            }
            let limit = Int.random(in: 1...400, using: &generator)
            let redacted = redactor.redact(bytes: Array(text.utf8), limit: limit)
            let decoded = redacted.removingPercentEncoding ?? redacted
            #expect(!redacted.contains(secret) && !decoded.contains(secret), "\(text) → \(redacted)")
            #expect(!redactor.redact(text).contains(secret))
        }
    }

    /// `secret` with each byte plain, percent-encoded or JSON-escaped, at random.
    private static func encode(_ secret: String, using generator: inout SeededGenerator) -> String {
        secret.utf8.map { byte in
            switch Int.random(in: 0...3, using: &generator) {
            case 0: String(format: "%%%02X", Int(byte))
            case 1: String(format: "%%%02x", Int(byte))
            case 2 where byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "/"): "\\" + String(UnicodeScalar(byte))
            case 2: String(format: "\\u%04x", Int(byte))
            default: String(UnicodeScalar(byte))
            }
        }.joined()
    }

    // MARK: The process's redactor, and the errors built from remote answers

    @Test func registeredSecretsLeaveEveryErrorBuiltFromAnAnswer() throws {
        let secret = "reg-\(UUID().uuidString)"
        SecretRedactor.register(secret)
        let echoed = "{\"error\": \"AuthError\", \"message\": \"bad token \(secret)\"}"
        let fromJSON = ChromaError.status(401, body: Array(echoed.utf8), doing: "counting", server: "Chroma at http://h:1")
        let raw = "<html>token=\(secret.replacingOccurrences(of: "-", with: "%2D"))</html>"
        let fromText = ChromaError.status(502, body: Array(raw.utf8), doing: "counting", server: "Chroma at http://h:1")
        let http = HTTPError(kind: .connection, message: "cannot reach http://h:1: proxy said \(secret)")
        let endpoint = RedisEndpoint(address: .tcp(host: "h", port: 1), password: secret)
        let redis = try #require(RedisError.serverState("WRONGPASS invalid password \(secret)", endpoint: endpoint))
        for message in [fromJSON.message, fromText.message, http.message, redis.message, RedisError.connection("errstr \(secret)").message] {
            #expect(!message.contains(secret) && !message.contains("%2D") && message.contains("[redacted]"), "\(message)")
        }
        #expect(fromJSON.kind == .authentication && fromText.kind == .server)
    }

    @Test func aLongErrorBodyIsQuotedShort() {
        let message = String(repeating: "m", count: 10_000)
        let body = Array("{\"error\": \"E\", \"message\": \"\(message)\"}".utf8)
        #expect(ChromaError.status(500, body: body, doing: "searching", server: "Chroma").message.utf8.count < 400)
    }

    @Test func theChromaConfigurationNamesItsSecrets() throws {
        let header = try ChromaConfiguration(url: "http://h:8000", token: "t0k", authHeader: .authorization)
        #expect(header.secrets == ["t0k", "Bearer t0k"])
        #expect(try ChromaConfiguration(url: "http://h:8000", token: "t0k").secrets == ["t0k"])
        #expect(try ChromaConfiguration(url: "http://h:8000").secrets.isEmpty)
    }
}
