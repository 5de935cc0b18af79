import Embeddings
@testable import KnowledgeBase
import SQLiteLedger
import Testing

@Suite("What a failed call tells its client")
struct ClientErrorTests {
    @Test func eachKindOfFailureHasItsCode() {
        #expect(ClientError(InvalidRequest("n_results must be between 1 and 50")).code == .invalidRequest)
        #expect(ClientError(EmbeddingUnavailable(reason: "no model")).code == .unavailable)
        #expect(ClientError(ModelLoadError.notFound("/m", "no model")).code == .unavailable)
        #expect(ClientError(KnowledgeStoreError.missingDimension(path: "/kb.sqlite3")).code == .internalFailure)
        // An ingest Chroma did not take is saved and waits: the dependency is unavailable, nothing failed here.
        let waiting = ClientError(VectorStoreUnavailable(pending: 3, underlying: ClientError(.unavailable, "refused")))
        #expect(waiting.code == .unavailable && waiting.message.hasPrefix("the change is saved"))
        #expect(ClientError(ClientError(.unavailable, "Chroma is down")) == ClientError(.unavailable, "Chroma is down"))
        struct Unknown: Error {}
        #expect(ClientError(Unknown()).code == .internalFailure)
    }

    @Test func aSQLiteFailureNeverCarriesItsSQL() {
        let failure = SQLiteError(code: 1, message: "near \"SELCT\": syntax error",
                                  context: "SELCT id, text FROM chunks WHERE technology = ?1")
        let client = ClientError(failure)
        #expect(client.code == .internalFailure)
        #expect(client.message.contains("SQLite error 1"))
        for leak in ["SELCT", "FROM", "chunks", "technology", "syntax"] {
            #expect(!client.message.contains(leak), "\(leak) reached the client: \(client.message)")
        }
        #expect("\(failure)".contains("SELCT"), "the log keeps the statement")
        // Nor through an ingest whose vectors wait because the outbox failed.
        let waiting = ClientError(VectorStoreUnavailable(pending: 2, underlying: failure))
        #expect(waiting.message.contains("SQLite error 1") && !waiting.message.contains("SELCT"), "\(waiting.message)")
    }

    @Test func anErrorOfAnUnexpectedTypeIsNotQuoted() {
        // A wrapper's text may quote what it wraps (a statement, a path, a key): only its type is named.
        struct Wrapper: Error, CustomStringConvertible {
            var description: String { "while running DELETE FROM chunks WHERE source = '/secret/plan.md'" }
        }
        let client = ClientError(Wrapper())
        #expect(client.code == .internalFailure && client.message.contains("Wrapper"))
        for leak in ["DELETE", "chunks", "/secret"] {
            #expect(!client.message.contains(leak), "\(leak) reached the client: \(client.message)")
        }
    }
}

@Suite struct IngestStoppedTests {
    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    @Test func theMessageSaysWhetherTheSameIngestWillFinishIt() {
        let away = IngestStopped(filesWritten: 3, reason: Refusal(description: "no connection"), passesOnItsOwn: true)
        #expect(away.description.contains("3 files were written") && away.description.contains("once the API answers"))
        let refused = IngestStopped(filesWritten: 0, reason: Refusal(description: "HTTP 413"), passesOnItsOwn: false)
        #expect(refused.description.contains("would refuse the same passages again"))
        #expect(refused.description.contains("MCP_RAG_EMBEDDINGS_BATCH") && !refused.description.contains("once the API answers"))
        #expect(ClientError(refused).code == .unavailable)
    }
}
