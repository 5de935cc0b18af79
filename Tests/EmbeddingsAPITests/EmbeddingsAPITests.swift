import Foundation
import Testing

@testable import EmbeddingsAPI

@Suite struct EmbeddingsAPIConfigurationTests {
    @Test(arguments: [
        ("http://localhost:11434", "http://localhost:11434/v1/embeddings"),
        ("http://localhost:11434/", "http://localhost:11434/v1/embeddings"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1/embeddings"),
        ("https://api.example.com/v1/", "https://api.example.com/v1/embeddings"),
        ("https://api.example.com/openai/v1/embeddings", "https://api.example.com/openai/v1/embeddings"),
        ("http://gateway/tenants/a", "http://gateway/tenants/a/v1/embeddings"),
    ])
    func theEndpointIsTheServersAddressCompleted(url: String, endpoint: String) throws {
        #expect(try EmbeddingsAPIConfiguration(url: url, model: "m").endpoint == endpoint)
    }

    @Test(arguments: [
        ("ftp://host/v1", "http:// or https://"),
        ("localhost:8000", "http:// or https://"),
        ("http://user:secret@host/v1", "MCP_RAG_EMBEDDINGS_KEY"),
        ("http://host/v1?key=secret", "query"),
    ])
    func unusableURLsAreRefusedSayingWhy(url: String, phrase: String) {
        #expect {
            try EmbeddingsAPIConfiguration(url: url, model: "m")
        } throws: { error in
            let error = error as? EmbeddingsAPIError
            return error?.kind == .configuration && error?.message.contains(phrase) == true
        }
    }

    @Test func aModelIsRequiredAndTheKeyIsNeverDescribed() throws {
        #expect(throws: EmbeddingsAPIError.self) { try EmbeddingsAPIConfiguration(url: "http://h", model: "  ") }
        let configuration = try EmbeddingsAPIConfiguration(url: "http://h", model: "bge-m3", key: "sk-secret")
        #expect(!configuration.description.contains("sk-secret"))
        #expect(configuration.secrets == ["sk-secret"])
    }

    @Test func theFingerprintFollowsWhatDecidesTheVectorsAndNotTheAddress() throws {
        let base = try EmbeddingsAPIConfiguration(url: "http://localhost:11434", model: "nomic-embed-text")
        let elsewhere = try EmbeddingsAPIConfiguration(url: "https://gpu-box:11434/v1", model: "nomic-embed-text", key: "k")
        #expect(base.fingerprint(dimension: 768) == elsewhere.fingerprint(dimension: 768))
        #expect(base.fingerprint(dimension: 768).count == 16)
        var prefixed = base
        prefixed.queryPrefix = "search_query: "
        var typed = base
        typed.sendsInputType = true
        let others = [base.fingerprint(dimension: 512), prefixed.fingerprint(dimension: 768), typed.fingerprint(dimension: 768),
                      try EmbeddingsAPIConfiguration(url: "http://h", model: "mxbai-embed-large").fingerprint(dimension: 768)]
        #expect(Set(others + [base.fingerprint(dimension: 768)]).count == 5)
    }
}

@Suite struct EmbeddingsAnswerTests {
    func vectors(_ json: String, count: Int, dimension: Int? = nil) throws(EmbeddingsAPIError) -> [[Float]] {
        try EmbeddingsAnswer.vectors(in: Data(json.utf8), count: count, dimension: dimension, server: "http://h")
    }

    @Test func vectorsComeInTheirIndexOrderScaledToUnitLength() throws {
        let answer = try vectors(#"{"object":"list","data":[{"index":1,"embedding":[0,2]},{"index":0,"embedding":[3,4]}]}"#, count: 2)
        #expect(answer == [[0.6, 0.8], [0, 1]])
        // Without indices, the order given.
        #expect(try vectors(#"{"data":[{"embedding":[1,0]},{"embedding":[0,5]}]}"#, count: 2) == [[1, 0], [0, 1]])
    }

    @Test(arguments: [
        (#"{"data":[{"embedding":[1,0]}]}"#, "1 vectors for 2 texts"),
        (#"{"data":[{"index":0,"embedding":[1,0]},{"index":0,"embedding":[0,1]}]}"#, "out of place"),
        (#"{"data":[{"index":0,"embedding":[1,0]},{"index":5,"embedding":[0,1]}]}"#, "out of place"),
        (#"{"data":[{"embedding":[1,0]},{"embedding":[0,1,0]}]}"#, "3 dimensions where 2"),
        (#"{"data":[{"embedding":[0,0]},{"embedding":[0,1]}]}"#, "a zero vector"),
        (#"{"data":[{"embedding":[1e39,0]},{"embedding":[0,1]}]}"#, "answered"),
        (#"{"embeddings":[[1,0],[0,1]]}"#, "something other than an embeddings list"),
        (#"not json"#, "something other than an embeddings list"),
    ])
    func anythingElseIsMalformedSayingWhat(json: String, phrase: String) {
        #expect {
            try vectors(json, count: 2)
        } throws: { error in
            let error = error as? EmbeddingsAPIError
            return error?.kind == .malformed && error?.message.contains(phrase) == true && error?.countsAsOutage == true
        }
    }

    @Test func aWidthOtherThanTheModelsIsRefused() {
        #expect(throws: EmbeddingsAPIError.self) { try vectors(#"{"data":[{"embedding":[1,0,0]}]}"#, count: 1, dimension: 2) }
    }
}

@Suite struct EmbeddingsAPIErrorTests {
    @Test(arguments: [
        (401, #"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
         EmbeddingsAPIError.Kind.authentication, "Incorrect API key provided"),
        (404, #"{"error":"model \"nomic\" not found, try pulling it first"}"#, .refused, "try pulling it first"),
        (413, #"{"error":"Input validation error: inputs must have less than 512 tokens","error_type":"Validation"}"#,
         .refused, "less than 512 tokens"),
        (422, #"{"detail":"field required"}"#, .refused, "field required"),
        (429, "rate limited", .server, "rate limited"),
        (503, "", .server, "HTTP 503"),
    ])
    func statusesSayWhatTheServerSaid(status: Int, body: String, kind: EmbeddingsAPIError.Kind, phrase: String) {
        let error = EmbeddingsAPIError.status(status, body: Data(body.utf8), server: "http://h:1")
        #expect(error.kind == kind)
        #expect(error.message.contains(phrase) && error.message.contains("http://h:1"))
        #expect(error.isTransient == (kind == .server))
    }

    @Test func aLongBodyIsCutShort() {
        let error = EmbeddingsAPIError.status(500, body: Data(String(repeating: "x", count: 5000).utf8), server: "http://h")
        #expect(error.message.count < 500)
    }
}
