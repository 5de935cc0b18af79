import Foundation
import Testing
import TestSupport

@testable import GPURuntime

/// The probe against look-alike libraries: every missing piece becomes a reason, never a crash.
@Suite struct GPUProbeTests {
    /// Only the fakes' folder: the system's own search still runs after it, which on a machine
    /// with a real GPU stack would find real libraries for the names not faked here.
    func cuda(_ fakes: FakeLibraries, extra: [String] = []) -> GPUProbe.Runtime {
        GPUProbe.probeCUDA(search: LibrarySearch(directories: [fakes.folder.path] + extra)).runtime
    }

    @Test func aDriverMissingFunctionsIsNamedWithAllItLacks() throws {
        let fakes = try FakeLibraries()
        defer { fakes.remove() }
        try fakes.build("libcuda.so.1", "FAKE_CUDA", "FAKE_CUDA_PARTIAL")
        let runtime = cuda(fakes)
        #expect(!runtime.usable)
        #expect(runtime.reason.contains("lacks"), "\(runtime.reason)")
        #expect(runtime.reason.contains("cuLaunchKernel") && runtime.reason.contains("cuMemAlloc_v2"), "\(runtime.reason)")
        #expect(!runtime.reason.contains("cuInit,"), "cuInit is there and must not be listed")
    }

    @Test func aDriverWithoutADeviceSaysSoInTheDriversWords() throws {
        let fakes = try FakeLibraries()
        defer { fakes.remove() }
        try fakes.build("libcuda.so.1", "FAKE_CUDA", "FAKE_CUDA_NO_DEVICE")
        let runtime = cuda(fakes)
        #expect(!runtime.usable && runtime.device == nil)
        #expect(runtime.reason == "no NVIDIA GPU is visible (CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected)")
        #expect(runtime.library == fakes.folder.appendingPathComponent("libcuda.so.1").path)
    }

    @Test func aDeviceWithoutTheCompilerNamesTheDeviceAndWhatToInstall() throws {
        let fakes = try FakeLibraries()
        defer { fakes.remove() }
        try fakes.build("libcuda.so.1", "FAKE_CUDA")
        // An empty libnvrtc.so.13 (no symbols at all) stands for a broken install.
        try fakes.build("libnvrtc.so.13")
        let runtime = cuda(fakes)
        #expect(!runtime.usable)
        let device = try #require(runtime.device)
        #expect(device.name == "Fake H200" && device.architecture == "sm_90" && device.computeUnits == 132)
        #expect(device.memoryBytes == 80 << 30 && device.warpSize == 32 && device.driverVersion == "13.0")
        #expect(runtime.reason.hasPrefix("found Fake H200 (sm_90, 80.0 GiB), but not NVRTC"), "\(runtime.reason)")
        #expect(runtime.reason.contains("lacks nvrtcVersion"), "\(runtime.reason)")
        #expect(runtime.reason.contains("pip install nvidia-cuda-nvrtc"), "\(runtime.reason)")
    }

    @Test func aCompilerNewerThanTheDriverIsNotUsed() throws {
        let nvrtc = try #require(ProcessInfo.processInfo.environment["MCP_RAG_TEST_NVRTC_DIR"],
                                 "MCP_RAG_TEST_NVRTC_DIR is not set: run the suite with tools/test")
        let fakes = try FakeLibraries()
        defer { fakes.remove() }
        try fakes.build("libcuda.so.1", "FAKE_CUDA", "FAKE_CUDA_DRIVER=12080")
        let runtime = cuda(fakes, extra: [nvrtc])
        #expect(!runtime.usable)
        #expect(runtime.device?.driverVersion == "12.8")
        #expect(runtime.reason.contains("libnvrtc.so.13 is NVRTC 13.0, newer than the driver's CUDA 12.8"), "\(runtime.reason)")
    }

    @Test func withDriverCompilerAndBLASTheRuntimeIsUsable() throws {
        let nvrtc = try #require(ProcessInfo.processInfo.environment["MCP_RAG_TEST_NVRTC_DIR"],
                                 "MCP_RAG_TEST_NVRTC_DIR is not set: run the suite with tools/test")
        let fakes = try FakeLibraries()
        defer { fakes.remove() }
        try fakes.build("libcuda.so.1", "FAKE_CUDA")
        var runtime = cuda(fakes, extra: [nvrtc])
        #expect(!runtime.usable && runtime.reason.contains("but not cuBLAS: not installed"), "\(runtime.reason)")
        try fakes.build("libcublas.so.13", "FAKE_CUBLAS")
        let outcome = GPUProbe.probeCUDA(search: LibrarySearch(directories: [fakes.folder.path, nvrtc]))
        runtime = outcome.runtime
        #expect(runtime.usable, "\(runtime.reason)")
        #expect(runtime.reason == "found Fake H200 (sm_90, 80.0 GiB)")
        #expect(runtime.device?.compilerVersion == "13.0")
        #expect(runtime.device?.libraries.map { ($0 as NSString).lastPathComponent } == ["libcuda.so.1", "libnvrtc.so.13", "libcublas.so.13"])
        guard case .cuda = outcome.loaded else {
            Issue.record("a usable probe carries its libraries")
            return
        }
    }

    @Test func hipReadsTheArchitectureFromTheLayoutItsRuntimeFills() throws {
        // A folder per variant: a loaded library is never unloaded, so a path cannot be reused.
        func probe(_ libraries: [(String, [String])]) throws -> GPUProbe.Runtime {
            let fakes = try FakeLibraries()
            defer { fakes.remove() }
            for (name, defines) in libraries { try fakes.build(name, defines) }
            return GPUProbe.probeHIP(search: LibrarySearch(directories: [fakes.folder.path]), driverNode: nil).runtime
        }
        // ROCm 5: only the unversioned properties call, gcnArchName at byte 396.
        var runtime = try probe([("libamdhip64.so.6", ["FAKE_HIP"])])
        #expect(runtime.device?.architecture == "gfx1030", "\(runtime.reason)")
        #expect(runtime.device?.name == "Fake Radeon RX 7900 XTX" && runtime.device?.driverVersion == "6.2")
        #expect(runtime.reason.contains("but not hiprtc"), "\(runtime.reason)")
        // ROCm 6: the R0600 call wins, gcnArchName at byte 1160, its feature suffix dropped.
        runtime = try probe([("libamdhip64.so.6", ["FAKE_HIP", "FAKE_HIP_R0600"]), ("libhiprtc.so.6", ["FAKE_HIPRTC"])])
        #expect(runtime.device?.architecture == "gfx1100")
        #expect(runtime.reason.contains("but not hipBLAS"), "\(runtime.reason)")
        runtime = try probe([("libamdhip64.so.6", ["FAKE_HIP", "FAKE_HIP_R0600"]), ("libhiprtc.so.6", ["FAKE_HIPRTC"]),
                             ("libhipblas.so.2", ["FAKE_HIPBLAS"])])
        #expect(runtime.usable && runtime.reason == "found Fake Radeon RX 7900 XTX (gfx1100, 24.0 GiB)", "\(runtime.reason)")
        #expect(runtime.device?.computeUnits == 96 && runtime.device?.warpSize == 32)
        #expect(runtime.device?.runtimeVersion == "HIP 6.2.41134")
    }

    @Test func hipInstalledWithoutAGPUSaysNoGPU() throws {
        let fakes = try FakeLibraries()
        defer { fakes.remove() }
        try fakes.build("libamdhip64.so.6", "FAKE_HIP", "FAKE_HIP_INIT=101")
        let runtime = GPUProbe.probeHIP(search: LibrarySearch(directories: [fakes.folder.path]), driverNode: nil).runtime
        #expect(!runtime.usable)
        #expect(runtime.reason == "no AMD GPU is visible (hipErrorInvalidDevice: invalid device ordinal)")
    }

    @Test func aFileThatIsNotALibraryGivesTheLoadersReason() throws {
        let fakes = try FakeLibraries()
        defer { fakes.remove() }
        try Data("not an ELF file".utf8).write(to: fakes.folder.appendingPathComponent("libcuda.so.1"))
        let runtime = cuda(fakes)
        #expect(!runtime.usable)
        #expect(runtime.reason.contains("libcuda.so.1") && !runtime.reason.hasPrefix("the NVIDIA driver library: not installed"),
                "\(runtime.reason)")
    }

    @Test func nothingInstalledIsReportedAsNotInstalled() {
        // Names no system has, so the loader's own search finds nothing either.
        #expect(throws: LibraryLoadError.notFound(names: ["libmcp-rag-absent.so.1"], failures: [])) {
            try DynamicLibrary.open(["libmcp-rag-absent.so.1"], search: LibrarySearch(directories: ["/nonexistent"]))
        }
        let error = LibraryLoadError.notFound(names: ["libcuda.so.1", "libcuda.so"], failures: [])
        #expect(error.description == "not installed (none of libcuda.so.1, libcuda.so could be loaded)")
    }
}

@Suite struct LibrarySearchTests {
    @Test func theFoldersOfTheVariableComeBeforeTheLoadersOwnSearch() {
        let search = LibrarySearch.fromEnvironment(["MCP_RAG_GPU_LIBRARY_PATH": "/opt/rocm/lib::/usr/local/cuda/lib64"])
        #expect(search.directories == ["/opt/rocm/lib", "/usr/local/cuda/lib64"])
        #expect(search.candidates(for: ["libcuda.so.1"])
            == ["/opt/rocm/lib/libcuda.so.1", "/usr/local/cuda/lib64/libcuda.so.1", "libcuda.so.1"])
        #expect(LibrarySearch.fromEnvironment([:]).directories.isEmpty)
    }
}

@Suite struct DevicePreferenceTests {
    @Test func parsesTheFourNamesAndRefusesOthers() throws {
        #expect(try DevicePreference(parsing: nil) == .auto)
        #expect(try DevicePreference(parsing: " CUDA ") == .cuda)
        #expect(try DevicePreference(parsing: "hip").requiredRuntime == .hip)
        #expect(try DevicePreference(parsing: "cpu").requiredRuntime == nil)
        #expect(throws: InvalidDevicePreference(value: "gpu")) { try DevicePreference(parsing: "gpu") }
        #expect(InvalidDevicePreference(value: "gpu").description == "device \"gpu\" is not one of auto, cpu, hip, cuda")
    }
}
