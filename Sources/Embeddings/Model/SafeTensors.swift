import Foundation

/// The element types a safetensors file may hold that this reader converts to `Float`.
public enum SafeTensorsDType: String, Sendable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    var byteCount: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        }
    }
}

/// A tensor's entry in the safetensors header.
public struct SafeTensorInfo: Sendable, Equatable {
    /// The dtype string as written in the file (`F32`, `F16`, `I64`, …).
    public let dtype: String
    /// The shape, outermost dimension first.
    public let shape: [Int]
    /// Byte range inside the data section (after the header).
    public let dataRange: Range<Int>
}

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header naming
/// each tensor's dtype, shape and byte range, then the raw data.
///
/// The header is checked when the file is opened (every range inside the file, sizes that agree with
/// the shapes), so that reading a tensor later can never touch memory outside the mapping.
public struct SafeTensorsFile: Sendable {
    /// The mapping, kept alive as long as any tensor pointer from it is in use.
    public let file: MappedFile
    /// Every tensor in the header, by name.
    public let tensors: [String: SafeTensorInfo]
    private let dataStart: Int

    /// Opens and validates the file at `path`.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        self.file = file
        guard file.count >= 8 else {
            throw ModelLoadError.malformed(path, "truncated: \(file.count) bytes, too short for a safetensors header")
        }
        let headerLength = file.bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength > 0, headerLength <= UInt64(file.count - 8), headerLength < 100_000_000 else {
            throw ModelLoadError.malformed(
                path, "truncated or not a safetensors file: the header claims \(headerLength) bytes but the file has \(file.count)")
        }
        dataStart = 8 + Int(headerLength)
        let headerData = Data(bytes: file.bytes + 8, count: Int(headerLength))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw ModelLoadError.malformed(path, "the safetensors header is not a JSON object")
        }
        let dataLength = file.count - dataStart
        var tensors: [String: SafeTensorInfo] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any],
                  let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw ModelLoadError.malformed(path, "tensor '\(name)' has no valid dtype, shape and data_offsets")
            }
            let begin = offsets[0]
            let end = offsets[1]
            guard begin >= 0, begin <= end, shape.allSatisfy({ $0 >= 0 }) else {
                throw ModelLoadError.malformed(path, "tensor '\(name)' has invalid offsets \(offsets) or shape \(shape)")
            }
            guard end <= dataLength else {
                throw ModelLoadError.malformed(
                    path, "truncated: tensor '\(name)' ends at byte \(end) of the data but the file holds \(dataLength)")
            }
            if let known = SafeTensorsDType(rawValue: dtype) {
                let (elements, overflow) = shape.reduce((1, false)) { acc, dim in
                    let (product, o) = acc.0.multipliedReportingOverflow(by: dim)
                    return (product, acc.1 || o)
                }
                guard !overflow, elements * known.byteCount == end - begin else {
                    throw ModelLoadError.malformed(
                        path, "tensor '\(name)': shape \(shape) of \(dtype) needs a different size than its \(end - begin) bytes")
                }
            }
            tensors[name] = SafeTensorInfo(dtype: dtype, shape: shape, dataRange: begin..<end)
        }
        self.tensors = tensors
    }

    /// The path the file was opened from.
    public var path: String { file.path }

    /// The bytes of `range` of the data section (a sub-range of a tensor's `dataRange`), as mapped.
    public func bytes(in range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= file.count - dataStart, "outside the data section")
        return UnsafeRawBufferPointer(start: file.bytes + dataStart + range.lowerBound, count: range.count)
    }

    /// A tensor as `Float`s, checked against the expected shape.
    ///
    /// F32 data that is suitably aligned is returned as a view into the mapping (no copy);
    /// F16 and BF16 data is converted into a new buffer.
    public func floats(_ name: String, shape expected: [Int]) throws -> FloatTensor {
        guard let info = tensors[name] else {
            throw ModelLoadError.malformed(path, "tensor '\(name)' is missing")
        }
        guard info.shape == expected else {
            throw ModelLoadError.malformed(path, "tensor '\(name)' has shape \(info.shape), expected \(expected)")
        }
        guard let dtype = SafeTensorsDType(rawValue: info.dtype) else {
            throw ModelLoadError.unsupported(path, "tensor '\(name)' has dtype \(info.dtype); only F32, F16 and BF16 are supported")
        }
        let count = expected.reduce(1, *)
        let source = file.bytes + dataStart + info.dataRange.lowerBound
        switch dtype {
        case .f32:
            if Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
                return FloatTensor(mapped: source.assumingMemoryBound(to: Float.self), count: count, owner: file)
            }
            return FloatTensor(copying: count) { out in
                for i in 0..<count { out[i] = Float(bitPattern: source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
            }
        case .f16:
            return FloatTensor(copying: count) { out in
                for i in 0..<count {
                    out[i] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian))
                }
            }
        case .bf16:
            return FloatTensor(copying: count) { out in
                for i in 0..<count {
                    let bits = UInt32(source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) << 16
                    out[i] = Float(bitPattern: bits)
                }
            }
        }
    }
}

/// A read-only block of `Float`s: either a view into a mapped file or a buffer of its own.
///
/// `@unchecked Sendable`: the contents are written only while the buffer is being built in `init`,
/// and the owner that keeps the memory alive is held for the tensor's lifetime.
public final class FloatTensor: @unchecked Sendable {
    /// The first element.
    public let pointer: UnsafePointer<Float>
    /// Number of elements.
    public let count: Int
    private let owner: AnyObject?
    private let ownsBuffer: Bool

    init(mapped pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
        self.ownsBuffer = false
    }

    /// Allocates `count` floats and lets `fill` write them.
    public init(copying count: Int, fill: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        do { try fill(buffer) } catch {
            buffer.deallocate()
            throw error
        }
        self.pointer = UnsafePointer(buffer)
        self.count = count
        self.owner = nil
        self.ownsBuffer = true
    }

    deinit {
        if ownsBuffer { UnsafeMutablePointer(mutating: pointer).deallocate() }
    }

    /// A copy of the elements. (A pointer-based view would let the memory go with a temporary
    /// tensor before the caller reads it.)
    public func toArray() -> [Float] {
        Array(UnsafeBufferPointer(start: pointer, count: count))
    }
}
