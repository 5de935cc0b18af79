import Foundation

/// hiprtc, ROCm's run-time compiler (`libhiprtc.so.7`, `.6`; in ROCm 5 it lives in libamdhip64):
/// turns the kernel source into a code object for the device's gfx architecture.
///
/// `@unchecked Sendable`: every stored property is a `let` (the library, and C function pointers
/// looked up once), and the library allows its functions to be called from any thread.
public struct HIPRTCAPI: @unchecked Sendable {
    public let library: DynamicLibrary
    let hiprtcCreateProgram: @convention(c) (
        UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
        UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let hiprtcCompileProgram: @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    let hiprtcGetCodeSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    let hiprtcGetCode: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Int32
    let hiprtcGetProgramLogSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Int32
    let hiprtcGetProgramLog: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Int32
    let hiprtcDestroyProgram: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    let hiprtcGetErrorString: @convention(c) (Int32) -> UnsafePointer<CChar>?

    static let symbols = [
        "hiprtcCreateProgram", "hiprtcCompileProgram", "hiprtcGetCodeSize", "hiprtcGetCode", "hiprtcGetProgramLogSize",
        "hiprtcGetProgramLog", "hiprtcDestroyProgram", "hiprtcGetErrorString",
    ]

    /// The library names tried, newest first; the HIP runtime itself is the last resort (ROCm 5).
    public static let libraryNames = ["libhiprtc.so.7", "libhiprtc.so.6", "libhiprtc.so.5", "libhiprtc.so"]

    public init(library: DynamicLibrary) throws(LibraryLoadError) {
        try library.require(Self.symbols)
        self.library = library
        hiprtcCreateProgram = try library.function("hiprtcCreateProgram")
        hiprtcCompileProgram = try library.function("hiprtcCompileProgram")
        hiprtcGetCodeSize = try library.function("hiprtcGetCodeSize")
        hiprtcGetCode = try library.function("hiprtcGetCode")
        hiprtcGetProgramLogSize = try library.function("hiprtcGetProgramLogSize")
        hiprtcGetProgramLog = try library.function("hiprtcGetProgramLog")
        hiprtcDestroyProgram = try library.function("hiprtcDestroyProgram")
        hiprtcGetErrorString = try library.function("hiprtcGetErrorString")
    }

    /// A code object of `source` for `architecture` (e.g. "gfx1100"), or the compiler's log as the error.
    public func compile(_ source: String, name: String, architecture: String, options: [String] = []) throws(GPUCallError) -> [UInt8] {
        var program: OpaquePointer?
        try check(hiprtcCreateProgram(&program, source, name, 0, nil, nil), "hiprtcCreateProgram")
        defer { _ = hiprtcDestroyProgram(&program) }
        // Always named: without it hiprtc guesses from the current device, and fails without one.
        let arguments = ["--offload-arch=\(architecture)"] + options
        let status = withCStrings(arguments) { hiprtcCompileProgram(program, Int32(arguments.count), $0) }
        guard status == 0 else {
            throw GPUCallError(runtime: "hiprtc", call: "hiprtcCompileProgram", code: status,
                               message: [errorText(status), log(program)].filter { !$0.isEmpty }.joined(separator: "\n"))
        }
        var size = 0
        try check(hiprtcGetCodeSize(program, &size), "hiprtcGetCodeSize")
        var code = [UInt8](repeating: 0, count: size)
        let copied = code.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: size) { hiprtcGetCode(program, $0) }
        }
        try check(copied, "hiprtcGetCode")
        return code
    }

    private func log(_ program: OpaquePointer?) -> String {
        var size = 0
        guard hiprtcGetProgramLogSize(program, &size) == 0, size > 1 else { return "" }
        var text = [CChar](repeating: 0, count: size)
        _ = hiprtcGetProgramLog(program, &text)
        return String(nulTerminated: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func errorText(_ status: Int32) -> String {
        hiprtcGetErrorString(status).map { String(cString: $0) } ?? ""
    }

    private func check(_ status: Int32, _ call: String) throws(GPUCallError) {
        guard status != 0 else { return }
        throw GPUCallError(runtime: "hiprtc", call: call, code: status, message: errorText(status))
    }
}
