// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "mcp-rag",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mcp-rag", targets: ["mcp-rag"]),
        .library(name: "Embeddings", targets: ["Embeddings"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Kernels compiled for AVX-512, AVX2 and baseline x86-64 and chosen at run time (Swift
        // cannot target one function at a CPU feature): the small-row matrix product against
        // pre-packed weights used for single queries, exp, and bias + GELU.
        .target(name: "CKernels"),
        // Tokenizer, safetensors reader, BERT forward pass and the CPU backend.
        .target(
            name: "Embeddings",
            dependencies: [
                "COpenBLAS",
                "CKernels",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "mcp-rag",
            dependencies: [
                "Embeddings",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "EmbeddingsTests",
            dependencies: ["Embeddings", "CKernels", "COpenBLAS"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
