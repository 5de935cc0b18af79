import KnowledgeBase
import MCP

/// `verify_gpu_acceleration`: which GPU runtimes exist, which backend serves, and how fast.
struct VerifyGPUAccelerationTool: RagTool {
    static let name = "verify_gpu_acceleration"

    var definition: Tool {
        let measurement = Schema.object([
            "backend": Schema.string("cpu, hip or cuda."),
            "threads": Schema.integer("Worker threads."),
            "batch_size": Schema.integer("Texts per batch in the throughput run."),
            "tokens_per_text": Schema.integer("Word pieces per text in the throughput run."),
            "sentences_per_second": Schema.number("Throughput on the fixed batch."),
            "single_query_ms": Schema.number("Median time to embed one short query."),
        ], required: ["backend", "threads", "batch_size", "tokens_per_text", "sentences_per_second", "single_query_ms"],
           additional: true)
        return Tool(
            name: Self.name,
            title: "GPU acceleration",
            description: """
                Report which GPU runtimes (ROCm/HIP, CUDA) were found and why each is or is not used, which backend \
                computes embeddings, and (with run_benchmark) measured embedding speed. Takes a few seconds with the benchmark.
                """,
            inputSchema: Schema.object([
                "run_benchmark": Schema.boolean("Time the serving backend on a fixed batch (a few seconds).", defaultValue: true),
            ]),
            annotations: .init(title: "GPU acceleration", readOnlyHint: true, openWorldHint: false),
            outputSchema: Schema.object([
                "selected_backend": Schema.string("The backend computing embeddings."),
                "gpu_available": Schema.boolean("Whether a GPU runtime is usable."),
                "device_preference": Schema.string("MCP_RAG_DEVICE: auto, cpu, hip or cuda."),
                "runtimes": Schema.array(Schema.object([
                    "name": Schema.string("hip or cuda."),
                    "library": Schema.string("The library that was found."),
                    "usable": Schema.boolean("Whether it can serve."),
                    "reason": Schema.string("Why (not)."),
                    "device": Schema.object([
                        "name": Schema.string("The device's name."),
                        "architecture": Schema.string("sm_XX (NVIDIA) or gfxNNNN (AMD)."),
                        "memory_bytes": Schema.integer("Device memory."),
                        "driver_version": Schema.string("The driver's version."),
                        "runtime_version": Schema.string("The HIP runtime's or cuBLAS's version."),
                        "compiler_version": Schema.string("NVRTC's version (hiprtc does not say)."),
                    ], additional: true),
                ], required: ["name", "usable", "reason"], additional: true), "Each runtime probed."),
                "cpu": measurement,
                "gpu": measurement,
                "startup_benchmark": Schema.array(Schema.object([
                    "backend": Schema.string("cpu, hip or cuda."),
                    "sentences_per_second": Schema.number("Throughput on the startup batch (64 texts of 128 word pieces)."),
                    "max_abs_difference": Schema.number("Largest difference of a vector component from the CPU's."),
                    "min_cosine": Schema.number("Smallest cosine similarity with the CPU's vectors."),
                    "correct": Schema.boolean("Whether its vectors agree with the CPU's (cosine ≥ 0.9999)."),
                    "note": Schema.string("Why it was not chosen."),
                ], required: ["backend", "correct"], additional: true), "The startup benchmark, the CPU first."),
                "speedup": Schema.number("GPU over CPU throughput."),
                "kernel_cache": Schema.string("How the GPU kernels were obtained: compiled now or from the cache."),
                "error": Schema.string("Why a GPU asked for (MCP_RAG_DEVICE) cannot serve, or why a serving GPU stopped."),
                "detail": Schema.string("A summary in words."),
            ], required: ["selected_backend", "gpu_available", "runtimes", "detail"], additional: true))
    }

    func call(_ arguments: [String: Value]?, context: ToolContext) async throws -> ToolOutput {
        let arguments = try ToolArguments(arguments, tool: Self.name, allowed: ["run_benchmark"])
        let runBenchmark = try arguments.boolean("run_benchmark", default: true)
        return try ToolOutput(try await context.knowledgeBase.accelerationReport(runBenchmark: runBenchmark))
    }
}
