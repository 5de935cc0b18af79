import StrictJSON
import Synchronization

/// Takes every configured secret (the Redis password, the Chroma token and its `Bearer` header
/// value) out of text that came from a remote answer, by value, before that text becomes part of a
/// message: an error, a log line, a tool answer, the self-test's report.
///
/// A server or a proxy in front of it may repeat what it received (a token in a 401 body, a
/// password in an error reply), so matching is done on the secret's value wherever it stands, and
/// also in the forms an echo puts it in: percent-encoded (`%41`, `%2d` or `%2D`, `+` for a space,
/// any mix of encoded and plain characters) and escaped in a JSON string (`\"`, `\/`, `\u0041`).
///
/// The process has one redactor, `shared`: the configuration registers its secrets with it, the
/// clients that hold them register them again (so a value set later is covered too), and the
/// error types built from remote answers (`ChromaError`, `RedisError`, `HTTPError`, Redis error
/// and status replies) pass their text through it. That is the one place this is done.
public struct SecretRedactor: Sendable, Equatable {
    /// What stands where a secret was. Text already holding it is left as it is, so redacting twice
    /// changes nothing.
    public static let mask = "[redacted]"

    /// The secrets as bytes, longest first (so `Bearer TOKEN` wins over `TOKEN`).
    private(set) var secrets: [[UInt8]] = []

    /// A redactor for `secrets` (empty ones are ignored).
    public init(secrets: [String] = []) {
        for secret in secrets { add(secret) }
    }

    /// Adds `secret`; an empty one, or one already there, changes nothing.
    public mutating func add(_ secret: String) {
        let bytes = Array(secret.utf8)
        guard !bytes.isEmpty, !secrets.contains(bytes) else { return }
        secrets.append(bytes)
        secrets.sort { $0.count > $1.count }
    }

    /// `text` with every secret replaced by `mask`.
    public func redact(_ text: String) -> String {
        guard !secrets.isEmpty else { return text }
        return redact(bytes: Array(text.utf8), limit: nil)
    }

    /// The text of `bytes` (UTF-8, invalid sequences replaced) with every secret replaced by `mask`,
    /// cut after about `limit` bytes when one is given.
    ///
    /// The cut is made after redacting, on the whole input: a secret that starts before the cut is
    /// replaced whole, however far past the cut it ends, so no part of it is left at the end. Only
    /// the bytes up to the cut (and the secrets that start there) are examined, so a long answer
    /// costs no more than a short one.
    public func redact(bytes: some Collection<UInt8>, limit: Int?) -> String {
        // Each step below writes at least one byte and reads at most one secret's longest form,
        // so with `limit` this many bytes are enough to reach it, the last secret's tail included.
        let longest = Swift.max(1, longestEncodedLength)
        let input = Array(limit.map { bytes.prefix(($0 + 1) * longest + longest) } ?? bytes.prefix(Int.max))
        let maskBytes = Array(Self.mask.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(Swift.min(input.count, limit ?? input.count))
        var index = 0
        while index < input.count {
            if let limit, output.count >= limit { break }
            // Secrets first, then a mask already there: a secret that is part of the mask (say
            // "a") does not start where the mask does, so the mask is passed over whole.
            if let end = secrets.lazy.compactMap({ Self.match($0, in: input, at: index) }).first {
                output += maskBytes
                index = end
            } else if input[index] == maskBytes[0], input[index...].starts(with: maskBytes) {
                output += maskBytes
                index += maskBytes.count
            } else {
                output.append(input[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The most bytes one secret can take up in text (every byte written as `\u00XX`).
    private var longestEncodedLength: Int { (secrets.first?.count ?? 0) * 6 }

    /// Where the occurrence of `secret` that starts at `start` ends, in any mix of its forms; nil
    /// when none starts there. Each secret byte may match several ways (`%` plainly or as `%25`),
    /// so every position the match can have reached is followed, and the longest match is taken.
    static func match(_ secret: [UInt8], in text: [UInt8], at start: Int) -> Int? {
        let first = text[start]
        guard first == secret[0] || first == UInt8(ascii: "%") || first == UInt8(ascii: "\\") || first == UInt8(ascii: "+") else {
            return nil
        }
        var positions = [start]
        var next: [Int] = []
        for byte in secret {
            next.removeAll(keepingCapacity: true)
            for position in positions {
                for end in advances(over: byte, in: text, at: position) where !next.contains(end) { next.append(end) }
            }
            if next.isEmpty { return nil }
            swap(&positions, &next)
        }
        return positions.max()
    }

    /// The positions after each form of `byte` that starts at `position` in `text`.
    private static func advances(over byte: UInt8, in text: [UInt8], at position: Int) -> [Int] {
        guard position < text.count else { return [] }
        var ends: [Int] = []
        let first = text[position]
        if first == byte { ends.append(position + 1) }
        if first == UInt8(ascii: "+"), byte == UInt8(ascii: " ") { ends.append(position + 1) }
        if first == UInt8(ascii: "%"), position + 2 < text.count,
           let value = HexDigit.value(of: text[(position + 1)...(position + 2)]), value == UInt32(byte) {
            ends.append(position + 3)
        }
        if first == UInt8(ascii: "\\"), position + 1 < text.count {
            let escaped = text[position + 1]
            if escaped == byte, byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/") {
                ends.append(position + 2)
            }
            if let control = jsonEscapes[escaped], control == byte { ends.append(position + 2) }
            if escaped == UInt8(ascii: "u"), position + 5 < text.count,
               let value = HexDigit.value(of: text[(position + 2)...(position + 5)]), value == UInt32(byte), byte < 0x80 {
                ends.append(position + 6)
            }
        }
        return ends
    }

    /// JSON's one-letter escapes and the byte each stands for.
    private static let jsonEscapes: [UInt8: UInt8] = [
        UInt8(ascii: "n"): 0x0A, UInt8(ascii: "t"): 0x09, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C,
    ]
}

extension SecretRedactor {
    /// The process's redactor: every secret registered so far.
    private static let registry = Mutex(SecretRedactor())

    /// The redactor holding every secret registered in this process.
    public static var shared: SecretRedactor { registry.withLock { $0 } }

    /// Registers `secret` (nil or empty: nothing) with the process's redactor; from now on it is
    /// redacted from every message built from a remote answer. Registering a secret twice is harmless.
    public static func register(_ secret: String?) {
        guard let secret, !secret.isEmpty else { return }
        registry.withLock { $0.add(secret) }
    }

    /// Registers each of `secrets` (see `register(_:)`).
    public static func register(_ secrets: [String]) {
        for secret in secrets { register(secret) }
    }

    /// `text` redacted by the process's redactor.
    public static func redact(_ text: String) -> String { shared.redact(text) }

    /// `bytes` redacted by the process's redactor and cut after about `limit` bytes (see
    /// `redact(bytes:limit:)`).
    public static func redact(bytes: some Collection<UInt8>, limit: Int) -> String {
        shared.redact(bytes: bytes, limit: limit)
    }
}
