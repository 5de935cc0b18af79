import Embeddings
import Foundation
import GPURuntime
import Logging
import Testing
import TestSupport

@testable import KnowledgeBase

/// The accelerator where no GPU can serve, as on CI: look-alike drivers that find no device, so
/// the outcome does not depend on what the machine has installed.
@Suite struct GPUAcceleratorTests {
    func embedder() throws -> SentenceEmbedder {
        let cpu = try SentenceEmbedder(directory: try realModelDirectory(), threads: 1)
        return cpu.replacingBackend(AcceleratedBackend(initial: cpu.backend))
    }

    func accelerator(_ preference: DevicePreference, _ fakes: FakeLibraries) -> GPUAccelerator {
        GPUAccelerator(preference: preference, search: LibrarySearch(directories: [fakes.folder.path]),
                       kernelCache: KernelCache(directory: nil), logger: Logger(label: "test"), amdDriverNode: nil)
    }

    func driversWithoutDevices() throws -> FakeLibraries {
        let fakes = try FakeLibraries()
        try fakes.build("libcuda.so.1", "FAKE_CUDA", "FAKE_CUDA_NO_DEVICE")
        try fakes.build("libamdhip64.so.7", "FAKE_HIP", "FAKE_HIP_INIT=101")
        return fakes
    }

    @Test func autoWithoutAUsableGPUKeepsTheCPUAndSaysWhyForEachRuntime() throws {
        let fakes = try driversWithoutDevices()
        defer { fakes.remove() }
        let accelerator = accelerator(.auto, fakes)
        #expect(!accelerator.current.settled)
        let embedder = try embedder()
        accelerator.select(embedder: embedder)
        let state = accelerator.current
        #expect(state.settled && state.error == nil && state.device == nil && state.trials.isEmpty)
        #expect(state.runtimes.map(\.name) == ["hip", "cuda"])
        #expect(state.reason.hasPrefix("no GPU runtime is usable, so embeddings run on the CPU"), "\(state.reason)")
        #expect(state.reason.contains("no AMD GPU is visible") && state.reason.contains("no NVIDIA GPU is visible"), "\(state.reason)")
        #expect(embedder.backend.name == "cpu")
    }

    @Test func askingForAGPUThatCannotServeIsAnErrorAndTheCPUServes() throws {
        let fakes = try driversWithoutDevices()
        defer { fakes.remove() }
        let accelerator = accelerator(.cuda, fakes)
        let embedder = try embedder()
        accelerator.select(embedder: embedder)
        let state = accelerator.current
        #expect(state.runtimes.map(\.name) == ["cuda"], "only the runtime asked for is probed")
        #expect(state.error == "MCP_RAG_DEVICE=cuda, but CUDA cannot serve: no NVIDIA GPU is visible "
            + "(CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected); embeddings run on the CPU")
        #expect(try embedder.embedBlocking(["still answers"])[0].count == 384)
    }

    @Test func cpuProbesNothing() throws {
        let fakes = try driversWithoutDevices()
        defer { fakes.remove() }
        let accelerator = accelerator(.cpu, fakes)
        accelerator.select(embedder: try embedder())
        #expect(accelerator.current.settled && accelerator.current.runtimes.isEmpty)
        #expect(accelerator.current.reason.hasPrefix("MCP_RAG_DEVICE=cpu"))
    }

    @Test func theSettingIsReadFromTheEnvironmentAndATypoStopsStartup() throws {
        let configuration = try KnowledgeBaseConfiguration.fromEnvironment(
            ["MCP_RAG_DEVICE": "HIP", "MCP_RAG_GPU_LIBRARY_PATH": "/opt/rocm/lib", "XDG_CACHE_HOME": "/tmp/c"])
        #expect(configuration.device == .hip && configuration.gpuLibrarySearch.directories == ["/opt/rocm/lib"])
        #expect(configuration.kernelCache.directory?.path == "/tmp/c/mcp-rag/kernels")
        #expect(throws: ConfigurationError.self) { try KnowledgeBaseConfiguration.fromEnvironment(["MCP_RAG_DEVICE": "gpu"]) }
    }
}
