import CCrypto

/// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto, which libcurl already loads: a well-kept
/// implementation that uses the CPU's SHA instructions where it has them.
///
/// Fed incrementally with `update` and read once with `finalize`; it owns its OpenSSL context, so
/// it cannot be copied.
public struct SHA256: ~Copyable {
    /// Bytes in a digest.
    public static let digestByteCount = 32

    private let context: EVPContext

    /// A hasher that has seen nothing yet.
    public init() {
        context = EVPContext(algorithm: .sha256)
    }

    /// Feeds `bytes` into the digest.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        context.update(bytes)
    }

    /// Feeds the bytes of `buffer` into the digest.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        context.update(buffer)
    }

    /// The digest of everything fed in.
    public consuming func finalize() -> [UInt8] {
        context.finalize()
    }

    /// The digest of `bytes`.
    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// `bytes` as lowercase hex.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        Hex.encode(bytes)
    }
}

/// SHA-1, for naming Redis keys after a query (`{prefix}query_meta:<sha1 hex>`): not for security,
/// only to spread texts over short fixed-length names, and what other tools reading those keys expect.
public enum SHA1 {
    /// The lowercase hex digest of `bytes`.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let context = EVPContext(algorithm: .sha1)
        context.update(bytes)
        return Hex.encode(context.finalize())
    }
}

enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// One `EVP_MD_CTX`, owned here and freed in `deinit`.
///
/// A class, not a struct, so that exactly one owner frees the context; it is used by one thread
/// at a time (it lives inside a non-copyable hasher or a single call).
final class EVPContext {
    enum Algorithm {
        case sha1, sha256

        /// The algorithm fetched once: OpenSSL 3 would otherwise look it up on every init.
        var method: OpaquePointer {
            switch self {
            case .sha1: FetchedMethods.sha1.pointer
            case .sha256: FetchedMethods.sha256.pointer
            }
        }
    }

    private let context: OpaquePointer

    init(algorithm: Algorithm) {
        // 1. EVP_MD_CTX_new fails only when memory is exhausted, as an allocation would trap.
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL could not allocate a digest context") }
        // 2. Init fails only for a method the library cannot run, which a fetch that succeeded rules out.
        guard EVP_DigestInit_ex(context, algorithm.method, nil) == 1 else { fatalError("OpenSSL could not start a digest") }
        self.context = context
    }

    deinit {
        EVP_MD_CTX_free(context)
    }

    func update(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if handled == nil {
            Array(bytes).withUnsafeBytes { update($0) }
        }
    }

    func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        // 3. Update fails only on a context that was not initialised, which init rules out.
        _ = EVP_DigestUpdate(context, base, buffer.count)
    }

    func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = EVP_DigestFinal_ex(context, &digest, &length)
        return Array(digest.prefix(Int(length)))
    }
}

/// The digest methods, fetched from the default provider once per process.
private struct FetchedMethods: @unchecked Sendable {
    // @unchecked: an EVP_MD fetched from a provider is immutable and reference-counted by OpenSSL,
    // which documents it as safe to share between threads once fetched; it is never freed.
    let pointer: OpaquePointer

    static let sha1 = FetchedMethods(name: "SHA1")
    static let sha256 = FetchedMethods(name: "SHA256")

    private init(name: String) {
        guard let method = EVP_MD_fetch(nil, name, nil) else {
            fatalError("OpenSSL's default provider has no \(name): the libcrypto installed is unusable")
        }
        pointer = method
    }
}
