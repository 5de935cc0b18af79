import Foundation

/// NVRTC, NVIDIA's run-time CUDA C++ compiler (`libnvrtc.so.13` or `.12`, from the CUDA toolkit
/// or the `nvidia-cuda-nvrtc` Python wheel): turns the kernel source into a cubin for the device
/// found, so no compiled GPU code ships with mcp-rag.
///
/// `@unchecked Sendable`: every stored property is a `let` (the library, and C function pointers
/// looked up once), and the library allows its functions to be called from any thread.
public struct NVRTCAPI: @unchecked Sendable {
    public let library: DynamicLibrary
    /// (major, minor), e.g. (13, 0).
    public let version: (major: Int32, minor: Int32)
    let nvrtcCreateProgram: @convention(c) (
        UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
        UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let nvrtcCompileProgram: @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let nvrtcGetCUBINSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    let nvrtcGetCUBIN: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Int32
    let nvrtcGetProgramLogSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    let nvrtcGetProgramLog: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Int32
    let nvrtcDestroyProgram: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    let nvrtcGetErrorString: @convention(c) (Int32) -> UnsafePointer<CChar>?
    /// Keeps the builtins library NVRTC needs loaded (see ``init(library:search:)``).
    let builtins: DynamicLibrary?

    static let symbols = [
        "nvrtcVersion", "nvrtcCreateProgram", "nvrtcCompileProgram", "nvrtcGetCUBINSize", "nvrtcGetCUBIN",
        "nvrtcGetProgramLogSize", "nvrtcGetProgramLog", "nvrtcDestroyProgram", "nvrtcGetErrorString",
    ]

    /// The library names tried, newest first.
    public static let libraryNames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]

    /// - Parameter search: NVRTC loads `libnvrtc-builtins.so.<major>.<minor>` by name when it
    ///   compiles; some builds (13.0's wheel) carry no RPATH to find it beside themselves, so it is
    ///   opened first, from the same folder, when it is there.
    public init(library: DynamicLibrary, search: LibrarySearch) throws(LibraryLoadError) {
        try library.require(Self.symbols)
        self.library = library
        let nvrtcVersion: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32 =
            try library.function("nvrtcVersion")
        var major: Int32 = 0, minor: Int32 = 0
        _ = nvrtcVersion(&major, &minor)
        version = (major, minor)
        nvrtcCreateProgram = try library.function("nvrtcCreateProgram")
        nvrtcCompileProgram = try library.function("nvrtcCompileProgram")
        nvrtcGetCUBINSize = try library.function("nvrtcGetCUBINSize")
        nvrtcGetCUBIN = try library.function("nvrtcGetCUBIN")
        nvrtcGetProgramLogSize = try library.function("nvrtcGetProgramLogSize")
        nvrtcGetProgramLog = try library.function("nvrtcGetProgramLog")
        nvrtcDestroyProgram = try library.function("nvrtcDestroyProgram")
        nvrtcGetErrorString = try library.function("nvrtcGetErrorString")
        builtins = search.files(withPrefix: "libnvrtc-builtins.so.\(major).", besides: library.path)
            .lazy.compactMap { try? DynamicLibrary.open([$0], search: LibrarySearch()) }.first
    }

    /// A cubin of `source` for `architecture` (e.g. "sm_90"), or the compiler's log as the error.
    public func compile(_ source: String, name: String, architecture: String, options: [String] = []) throws(GPUCallError) -> [UInt8] {
        var program: OpaquePointer?
        try check(nvrtcCreateProgram(&program, source, name, 0, nil, nil), "nvrtcCreateProgram")
        defer { _ = nvrtcDestroyProgram(&program) }
        let arguments = ["--gpu-architecture=\(architecture)"] + options
        let status = withCStrings(arguments) { nvrtcCompileProgram(program, Int32(arguments.count), $0) }
        guard status == 0 else {
            throw GPUCallError(runtime: "nvrtc", call: "nvrtcCompileProgram", code: status,
                               message: [errorText(status), log(program)].filter { !$0.isEmpty }.joined(separator: "\n"))
        }
        var size = 0
        try check(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize")
        // A virtual architecture (compute_XX) yields PTX only, and a cubin of size 0.
        guard size > 0 else {
            throw GPUCallError(runtime: "nvrtc", call: "nvrtcGetCUBIN", code: -1,
                               message: "no cubin for \(architecture): name a real architecture (sm_XX)")
        }
        var cubin = [UInt8](repeating: 0, count: size)
        let copied = cubin.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: size) { nvrtcGetCUBIN(program, $0) }
        }
        try check(copied, "nvrtcGetCUBIN")
        return cubin
    }

    private func log(_ program: OpaquePointer?) -> String {
        var size = 0
        guard nvrtcGetProgramLogSize(program, &size) == 0, size > 1 else { return "" }
        var text = [CChar](repeating: 0, count: size)
        _ = nvrtcGetProgramLog(program, &text)
        return String(nulTerminated: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func errorText(_ status: Int32) -> String {
        nvrtcGetErrorString(status).map { String(cString: $0) } ?? ""
    }

    private func check(_ status: Int32, _ call: String) throws(GPUCallError) {
        guard status != 0 else { return }
        throw GPUCallError(runtime: "nvrtc", call: call, code: status, message: errorText(status))
    }
}

/// Calls `body` with `strings` as a C array of C strings, valid only during the call.
func withCStrings<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> Result) -> Result {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
