// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "mcp-rag",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mcp-rag", targets: ["mcp-rag"]),
        .library(name: "Embeddings", targets: ["Embeddings"]),
        .library(name: "Storage", targets: ["Storage", "EmbeddedVectors", "SQLiteLedger", "Redis", "Chroma"]),
        .library(name: "KnowledgeBase", targets: ["KnowledgeBase"]),
        .library(name: "MCPServer", targets: ["MCPServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", exact: "0.12.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Hummingbird's own dependencies, named because HTTPEndpoints uses their types directly.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.24.0"),
    ],
    targets: [
        // OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // SQLite 3 with FTS5 (Debian: libsqlite3-dev).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // hiredis, the Redis client library (Debian: libhiredis-dev; 0.14 and 1.x). No pkgConfig:
        // hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM refuses with a warning on every
        // build, and the headers are found as <hiredis/hiredis.h> in the default include path.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // libcurl, behind HTTPClient: Chroma, model downloads (Debian: libcurl4-openssl-dev), with
        // typed wrappers for its variadic calls. No pkgConfig: libcurl.pc only adds the multiarch
        // include folder, which the compiler searches anyway.
        .systemLibrary(
            name: "CCurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // OpenSSL's libcrypto (Debian: libssl-dev), for SHA-1 and SHA-256: libcurl loads it already.
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // poppler's GLib interface, for the text of PDF files (Debian: libpoppler-glib-dev).
        .systemLibrary(
            name: "CPoppler",
            pkgConfig: "poppler-glib",
            providers: [.apt(["libpoppler-glib-dev"])]
        ),
        // libzip, for the zip a Word file is (Debian: libzip-dev): it checks an archive's structure
        // before reading it, where ZIPFoundation traps on offsets that point past the end.
        .systemLibrary(
            name: "CLibZip",
            pkgConfig: "libzip",
            providers: [.apt(["libzip-dev"])]
        ),
        // libxml2, for the XML inside Word files and for HTML (Debian: libxml2-dev).
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        // Kernels compiled for AVX-512, AVX2 and baseline x86-64 and chosen at run time (Swift
        // cannot target one function at a CPU feature): the small-row matrix product against
        // pre-packed weights used for single queries, exp, bias + GELU, and int8 dot products for
        // the vector search.
        .target(name: "CKernels"),
        // Corrects OpenBLAS's kernel choice at startup on CPUs it does not recognise (it falls back
        // to SSE3 kernels, 5x slower on an AVX-512 machine).
        .target(name: "CBLASCore"),
        // rag_bm25, FTS5's BM25 with each row's length kept in memory: keyword search reads no
        // per-row length from disk.
        .target(name: "CFTSRank", dependencies: ["CSQLite"]),
        // Circuit breaker and retry policy for the remote dependencies (Redis, Chroma).
        .target(name: "Resilience"),
        // GPU runtimes (ROCm HIP, CUDA) loaded with dlopen at run time: nothing GPU-related is
        // linked, so one binary runs with or without them.
        .target(name: "GPURuntime"),
        // The bounded set of threads every blocking C call (SQLite, hiredis, libcurl) runs on, the
        // connection slots network clients await before they take one, and their connection pools.
        .target(name: "Blocking"),
        // SHA-256 (content hashes, chunk ids) and SHA-1 (Redis key names) over libcrypto.
        .target(name: "Digests", dependencies: ["CCrypto"]),
        // A strict, fast JSON reader: tokenizer files, and tool results turned into the SDK's values.
        .target(name: "StrictJSON"),
        // Tokenizer, safetensors reader, BERT forward pass and the CPU backend.
        .target(
            name: "Embeddings",
            dependencies: [
                "StrictJSON",
                "GPURuntime",
                "Digests",
                "COpenBLAS",
                "CBLASCore",
                "CKernels",
            ]
        ),
        // What the stores share: the records they keep, the query-tracker, result-cache and
        // vector-search protocols, the in-memory result cache.
        .target(name: "Storage"),
        // Secrets taken out of text that came from a remote answer, before it becomes a message.
        .target(name: "Redaction", dependencies: ["StrictJSON"]),
        // The embedded vector index: int8 codes for the scans and float32 vectors for the exact
        // scores, in memory or in the snapshot file (with its 4-bit codes), and the scans.
        .target(name: "EmbeddedVectors", dependencies: ["Storage", "CKernels"]),
        // The SQLite ledger: sources, chunks and their FTS5 index, the Chroma outbox, keyword search,
        // the vectors kept in step with other processes, query statistics in SQLite.
        .target(
            name: "SQLiteLedger",
            dependencies: [
                "Storage",
                "EmbeddedVectors",
                "BytePaths",
                "CSQLite",
                "CFTSRank",
                "Blocking",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The Redis client over hiredis, and the query tracker and result cache kept in Redis.
        .target(
            name: "Redis",
            dependencies: [
                "Storage",
                "Blocking",
                "Redaction",
                "CHiredis",
                "Digests",
                "Resilience",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // An HTTP client over libcurl: requests answered in memory, and resumable downloads into files.
        .target(name: "HTTPClient", dependencies: ["CCurl", "Redaction"]),
        // The Chroma client, and semantic search in Chroma fed from the ledger's outbox.
        .target(
            name: "Chroma",
            dependencies: [
                "Storage",
                "SQLiteLedger",
                "HTTPClient",
                "Blocking",
                "Redaction",
                "Digests",
                "Resilience",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What the server counts and times, through swift-metrics, and its Prometheus exposition
        // through swift-prometheus.
        .target(
            name: "Telemetry",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The text of documents in binary and markup formats (PDF through poppler, Word through
        // libzip and libxml2, HTML through libxml2), within limits on size, pages and nesting.
        .target(
            name: "DocumentFormats",
            dependencies: ["CPoppler", "CLibXML2", "CLibZip"]
        ),
        // Paths as the bytes the kernel sees: compared, split and joined without Unicode's
        // canonical equivalence, which would make two folders one.
        .target(name: "BytePaths"),
        // Folder trees watched (inotify) for `serve --watch`: the changed paths in settled batches,
        // and the lock that lets one process of a data folder watch.
        .target(name: "FolderWatch", dependencies: ["BytePaths"]),
        // Configuration, loading and chunking documents, ingestion, the query service, health,
        // retrieval evaluation on BEIR-layout benchmarks.
        .target(
            name: "KnowledgeBase",
            dependencies: [
                "Telemetry",
                "DocumentFormats",
                "FolderWatch",
                "BytePaths",
                "Storage",
                "Redaction",
                "EmbeddedVectors",
                "SQLiteLedger",
                "Redis",
                "Chroma",
                "Blocking",
                "Digests",
                "Resilience",
                "Embeddings",
                "EmbeddingsAPI",
                "GPURuntime",
                "StrictJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // An OpenAI-compatible embeddings API (`/v1/embeddings`) as the knowledge base's model.
        .target(name: "EmbeddingsAPI", dependencies: ["HTTPClient", "Digests", "Redaction"]),
        // `mcp-rag model fetch`: models downloaded from the Hugging Face Hub into its cache, checked.
        .target(name: "ModelHub", dependencies: ["HTTPClient", "Embeddings", "Digests", "Redaction"]),
        // The MCP tools (schemas, annotations, handlers) over the official Swift SDK.
        .target(
            name: "MCPServer",
            dependencies: [
                "KnowledgeBase",
                "Telemetry",
                "StrictJSON",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The benchmarks behind `mcp-rag bench`: embedding, the store at scale, Redis tracking.
        .target(
            name: "Benchmarks",
            dependencies: [
                "Embeddings",
                "KnowledgeBase",
                "Storage",
                "SQLiteLedger",
                "Redis",
                "CKernels",
                "COpenBLAS",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `mcp-rag selftest`: every tool through a real MCP session on a sample knowledge base.
        .target(
            name: "SelfTest",
            dependencies: [
                "MCPServer",
                "KnowledgeBase",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // mcp-rag's HTTP server on Hummingbird: MCP's Streamable HTTP transport, health probes and
        // the Prometheus metrics.
        .target(
            name: "HTTPEndpoints",
            dependencies: [
                "KnowledgeBase",
                "MCPServer",
                "Telemetry",
                "Resilience",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "mcp-rag",
            dependencies: [
                "Benchmarks",
                "SelfTest",
                "MCPServer",
                "KnowledgeBase",
                "HTTPEndpoints",
                "ModelHub",
                "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "EmbeddingsTests",
            dependencies: ["Embeddings", "GPURuntime", "CKernels", "CBLASCore", "COpenBLAS"],
            resources: [.copy("Fixtures")]
        ),
        // Helpers the test suites share (a seeded random generator, a manual clock,
        // and look-alike GPU libraries compiled by the tests with cc).
        .target(name: "TestSupport", dependencies: ["Resilience"], path: "Tests/TestSupport", exclude: ["FakeLibraries"]),
        .testTarget(
            name: "ResilienceTests",
            dependencies: ["Resilience", "TestSupport"]
        ),
        .testTarget(
            name: "GPURuntimeTests",
            dependencies: ["GPURuntime", "TestSupport"]
        ),
        .testTarget(
            name: "BenchmarksTests",
            dependencies: ["Benchmarks", "Embeddings"]
        ),
        .testTarget(
            name: "BlockingTests",
            dependencies: ["Blocking"]
        ),
        .testTarget(
            name: "DigestsTests",
            dependencies: ["Digests"]
        ),
        .testTarget(
            name: "StrictJSONTests",
            dependencies: ["StrictJSON"]
        ),
        .testTarget(name: "ModelHubTests", dependencies: ["ModelHub"]),
        .testTarget(name: "DocumentFormatsTests", dependencies: ["DocumentFormats", "CLibZip"]),
        .testTarget(name: "EmbeddingsAPITests", dependencies: ["EmbeddingsAPI"]),
        .testTarget(name: "FolderWatchTests", dependencies: ["FolderWatch"]),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "EmbeddedVectors", "SQLiteLedger", "Redis", "Chroma", "HTTPClient", "CKernels", "Digests", "Redaction",
                           "Blocking", "CSQLite", "Resilience", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "KnowledgeBaseTests",
            dependencies: ["KnowledgeBase", "BytePaths", "DocumentFormats", "FolderWatch", "Storage", "SQLiteLedger", "Redis", "Embeddings", "GPURuntime",
                           "Digests", "Telemetry", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "TelemetryTests",
            dependencies: ["Telemetry", "HTTPEndpoints", "KnowledgeBase", "TestSupport",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                           .product(name: "HTTPTypes", package: "swift-http-types")]
        ),
        .testTarget(
            name: "MCPServerTests",
            dependencies: ["MCPServer", "KnowledgeBase", "TestSupport", .product(name: "MCP", package: "swift-sdk"),
                           .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
