import Foundation

/// A GPU call that returned an error: which call, its status code and the runtime's own words.
public struct GPUCallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// "cuda", "nvrtc", "cublas", "hip", "hiprtc" or "hipblas".
    public var runtime: String
    /// The C function that failed.
    public var call: String
    /// Its status code.
    public var code: Int32
    /// The runtime's name and description of the code, when it has them.
    public var message: String

    public init(runtime: String, call: String, code: Int32, message: String) {
        self.runtime = runtime
        self.call = call
        self.code = code
        self.message = message
    }

    public var description: String { "\(call) failed with \(runtime) error \(code)\(message.isEmpty ? "" : ": \(message)")" }

    /// Whether the device ran out of memory: the one failure worth telling apart, because a
    /// smaller batch may still fit.
    public var isOutOfMemory: Bool {
        switch runtime {
        case "cuda", "hip": code == 2
        case "cublas": code == 3
        case "hipblas": code == 2
        default: false
        }
    }
}

extension String {
    /// The text in a C character buffer the runtime filled, up to its first NUL.
    init(nulTerminated characters: [CChar]) {
        self = String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
