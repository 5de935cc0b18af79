import Foundation

/// Which device embeds, as `MCP_RAG_DEVICE` (or `--device`) asks: `auto` lets the startup
/// benchmark choose between the CPU and a usable GPU; the others insist.
public enum DevicePreference: String, Sendable, CaseIterable {
    case auto, cpu, hip, cuda

    /// The environment variable that sets it.
    public static let environmentVariable = "MCP_RAG_DEVICE"

    /// The preference `value` names, case-insensitively; nil or empty means auto.
    public init(parsing value: String?) throws(InvalidDevicePreference) {
        let text = (value ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        if text.isEmpty {
            self = .auto
        } else if let preference = DevicePreference(rawValue: text) {
            self = preference
        } else {
            throw InvalidDevicePreference(value: value ?? "")
        }
    }

    /// The GPU runtime it insists on, if it does.
    public var requiredRuntime: GPURuntimeKind? {
        switch self {
        case .hip: .hip
        case .cuda: .cuda
        case .auto, .cpu: nil
        }
    }
}

/// A device name that is none of auto, cpu, hip, cuda.
public struct InvalidDevicePreference: Error, Sendable, Equatable, CustomStringConvertible {
    public let value: String
    public var description: String {
        "device \"\(value)\" is not one of \(DevicePreference.allCases.map(\.rawValue).joined(separator: ", "))"
    }
}
