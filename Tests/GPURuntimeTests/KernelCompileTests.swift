import Foundation
import Testing

@testable import GPURuntime

/// The encoder kernels through the real NVRTC (the `nvidia-cuda-nvrtc` wheel tools/test installs):
/// no GPU is needed to compile, so every CI run checks the source the GPU path will load.
@Suite struct KernelCompileTests {
    func nvrtc() throws -> NVRTCAPI {
        let folder = try #require(ProcessInfo.processInfo.environment["MCP_RAG_TEST_NVRTC_DIR"],
                                  "MCP_RAG_TEST_NVRTC_DIR is not set: run the suite with tools/test")
        let search = LibrarySearch(directories: [folder])
        return try NVRTCAPI(library: DynamicLibrary.open(["libnvrtc.so.13"], search: search), search: search)
    }

    @Test(arguments: ["sm_75", "sm_90", "sm_120"])
    func theEncoderKernelsCompileToACubinWithEveryEntryPoint(architecture: String) throws {
        let compiler = try nvrtc()
        let cubin = try compiler.compile(EncoderKernels.source, name: "encoder.cu", architecture: architecture,
                                         options: KernelBuilder.options)
        #expect(Array(cubin.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46], "a cubin is an ELF file")
        let text = String(decoding: cubin, as: UTF8.self)
        for name in EncoderKernels.functionNames {
            #expect(text.contains(name), "the cubin has no \(name)")
        }
    }

    @Test func aCompileErrorCarriesTheCompilersLog() throws {
        let compiler = try nvrtc()
        let error = try #require(throws: GPUCallError.self) {
            try compiler.compile("extern \"C\" __global__ void broken() { undeclared_name = 1; }", name: "broken.cu",
                                 architecture: "sm_90")
        }
        #expect(error.call == "nvrtcCompileProgram" && error.runtime == "nvrtc")
        #expect(error.message.contains("undeclared_name"), "\(error.message)")
    }

    @Test func aVirtualArchitectureIsRefusedWithAReason() throws {
        let compiler = try nvrtc()
        let error = try #require(throws: GPUCallError.self) {
            try compiler.compile(EncoderKernels.source, name: "encoder.cu", architecture: "compute_90")
        }
        #expect(error.message.contains("name a real architecture"))
    }

    @Test func aSecondBuildComesFromTheCacheAndANewDriverMissesIt() throws {
        let compiler = try nvrtc()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-rag-kernels-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let builder = KernelBuilder(cache: KernelCache(directory: folder))
        var device = GPUDeviceInfo(name: "test", architecture: "sm_90", memoryBytes: 0, computeUnits: 1, warpSize: 32,
                                   driverVersion: "13.0", compilerVersion: "13.0", libraries: [])
        var compiles = 0
        let compile: (String, [String]) throws(GPUCallError) -> [UInt8] = { source, options throws(GPUCallError) in
            compiles += 1
            return try compiler.compile(source, name: "encoder.cu", architecture: device.architecture, options: options)
        }
        let first = try builder.build(runtime: .cuda, device: device, compile: compile)
        let second = try builder.build(runtime: .cuda, device: device, compile: compile)
        #expect(!first.fromCache && second.fromCache && compiles == 1)
        #expect(first.binary == second.binary && first.entry == second.entry)
        device.driverVersion = "13.1"
        let third = try builder.build(runtime: .cuda, device: device, compile: compile)
        #expect(!third.fromCache && compiles == 2 && third.entry != first.entry)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }.isEmpty,
                "no temporary file is left behind")
    }

    @Test func aCachedBinaryTheDriverRefusesIsReplacedByAFreshCompile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-rag-kernels-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cache = KernelCache(directory: folder)
        let device = GPUDeviceInfo(name: "test", architecture: "sm_90", memoryBytes: 0, computeUnits: 1, warpSize: 32,
                                   driverVersion: "13.0", compilerVersion: "13.0", libraries: [])
        let entry = KernelCache.entryName(runtime: .cuda, architecture: "sm_90", driverVersion: "13.0", compilerVersion: "13.0",
                                          source: EncoderKernels.source, options: KernelBuilder.options)
        cache.store(Array("damaged".utf8), as: entry)
        let good: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 1, 2, 3]
        var loaded: [[UInt8]] = []
        let built = try KernelBuilder(cache: cache).buildAndLoad(
            runtime: .cuda, device: device, compile: { _, _ throws(GPUCallError) in good },
            load: { binary in
                loaded.append(binary)
                return binary == good ? 0 : 200  // CUDA_ERROR_INVALID_IMAGE for anything else
            },
            check: { status throws(GPUCallError) in
                if status != 0 { throw GPUCallError(runtime: "cuda", call: "cuModuleLoadData", code: status, message: "") }
            })
        #expect(!built.fromCache && built.binary == good)
        #expect(loaded == [Array("damaged".utf8), good], "the damaged entry was tried once, then replaced")
        #expect(cache.load(entry) == good)
        // A fresh compile the driver refuses is an error, not a loop.
        #expect(throws: GPUCallError.self) {
            try KernelBuilder(cache: KernelCache(directory: nil)).buildAndLoad(
                runtime: .cuda, device: device, compile: { _, _ throws(GPUCallError) in [1] }, load: { _ in 200 },
                check: { status throws(GPUCallError) in
                    if status != 0 { throw GPUCallError(runtime: "cuda", call: "cuModuleLoadData", code: status, message: "") }
                })
        }
    }

    /// The same source through hiprtc: Debian's ROCm 5.2 (tools/fetch-test-hiprtc unpacks it; in
    /// ROCm 5 hiprtc lives in libamdhip64), for an RDNA 2 card, whose wavefronts are 32 wide, and a
    /// CDNA 2 one, 64 wide. No GPU is needed to compile, but the HIP runtime is not loaded into this
    /// process: a child does it and reports on stderr (an exit test hands back nothing of a child
    /// that exits with a failure). That ROCm is too old for the RX 7000 series' gfx1100: its
    /// compiler crashes on it.
    @Test func theEncoderKernelsCompileWithHiprtcForBothWavefrontWidths() async throws {
        _ = try #require(ProcessInfo.processInfo.environment["MCP_RAG_TEST_HIPRTC_DIR"],
                         "MCP_RAG_TEST_HIPRTC_DIR is not set: run the suite with tools/test")
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            HiprtcCompileCheck.run(architectures: ["gfx1030", "gfx90a"])
        }
        let report = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(report.contains("compiled gfx1030") && report.contains("compiled gfx90a"), "the child process said: \(report)")
    }

    @Test func cacheNamesChangeWithTheSourceAndStayFileSafe() {
        let a = KernelCache.entryName(runtime: .hip, architecture: "gfx1100", driverVersion: "6.2", compilerVersion: nil,
                                      source: "x", options: [])
        let b = KernelCache.entryName(runtime: .hip, architecture: "gfx1100", driverVersion: "6.2", compilerVersion: nil,
                                      source: "y", options: [])
        #expect(a != b)
        #expect(a.hasPrefix("hip-gfx1100-driver6.2-compiler--") && !a.contains("/"))
        #expect(fnv1a64("a") == 0xaf63_dc4c_8601_ec8c, "FNV-1a's published value for \"a\"")
    }
}

/// The child process of the hiprtc test: compiles the encoder kernels for each architecture and
/// checks each code object, writing to stderr what it compiled or why it could not.
enum HiprtcCompileCheck {
    static func run(architectures: [String]) {
        let folder = ProcessInfo.processInfo.environment["MCP_RAG_TEST_HIPRTC_DIR"] ?? ""
        // Unpacked, not installed: what libamdhip64 loads is found by loading it first from the
        // folder, since the loader matches a library's dependencies to those already loaded.
        for dependency in ["libLLVM-15.so.1", "libhsakmt.so.1", "libhsa-runtime64.so.1", "libamd_comgr.so.2"] {
            let path = (folder as NSString).appendingPathComponent(dependency)
            if FileManager.default.fileExists(atPath: path), dlopen(path, RTLD_NOW) == nil {
                return report("cannot load \(path): \(dlerror().map { String(cString: $0) } ?? "")")
            }
        }
        do {
            let search = LibrarySearch(directories: [folder])
            let compiler = try HIPRTCAPI(library: DynamicLibrary.open(["libamdhip64.so.5"], search: search))
            for architecture in architectures {
                let code = try compiler.compile(EncoderKernels.source, name: "encoder.hip", architecture: architecture,
                                                options: KernelBuilder.options)
                // A code object is an ELF file (an offload bundle would start "__CLANG_OFFLOAD_BUNDLE__").
                guard Array(code.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46] else {
                    return report("\(architecture): \(code.count) bytes that are no ELF file")
                }
                let text = String(decoding: code, as: UTF8.self)
                let absent = EncoderKernels.functionNames.filter { !text.contains($0) }
                guard absent.isEmpty else { return report("\(architecture): the code object has no \(absent)") }
                report("compiled \(architecture): \(code.count) bytes")
            }
        } catch {
            report("\(error)")
        }
    }

    private static func report(_ line: String) {
        FileHandle.standardError.write(Data("\(line)\n".utf8))
    }
}
