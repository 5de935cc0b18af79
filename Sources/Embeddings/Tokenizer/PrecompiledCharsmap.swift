import Foundation

/// SentencePiece's normalisation rules as `tokenizers`' `Precompiled` normaliser runs them
/// (XLM-RoBERTa's NFKC-like `nmt_nfkc` map): a double-array trie (darts-clone's layout) from UTF-8
/// byte strings to the offset of their replacement, and the replacements, NUL-terminated.
///
/// Applied as `tokenizers` applies it: grapheme by grapheme, a grapheme shorter than six bytes
/// replaced whole when the trie has a key that starts it; otherwise character by character.
struct PrecompiledCharsmap: Sendable {
    /// The trie's units.
    private let units: [UInt32]
    /// The replacements, each ending with a NUL byte.
    private let replacements: [UInt8]

    /// Reads the blob: a little-endian 32-bit byte size of the trie, the trie, the replacements.
    init(blob: [UInt8]) throws(CharsmapError) {
        guard blob.count >= 4 else { throw CharsmapError() }
        let trieBytes = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        guard trieBytes % 4 == 0, trieBytes >= 4, 4 + trieBytes <= blob.count else { throw CharsmapError() }
        units = stride(from: 4, to: 4 + trieBytes, by: 4).map { offset in
            UInt32(blob[offset]) | UInt32(blob[offset + 1]) << 8 | UInt32(blob[offset + 2]) << 16 | UInt32(blob[offset + 3]) << 24
        }
        replacements = Array(blob[(4 + trieBytes)...])
    }

    struct CharsmapError: Error {}

    /// The replacement for `chunk`: that of the shortest key that starts it, as `tokenizers`
    /// takes it (`common_prefix_search(...)[0]`); nil when no key starts it.
    func replacement(for chunk: some Collection<UInt8>) -> ArraySlice<UInt8>? {
        var position = 0
        guard !units.isEmpty else { return nil }
        position ^= Self.offset(units[0])
        for byte in chunk {
            if byte == 0 { return nil }
            position ^= Int(byte)
            guard position < units.count else { return nil }
            let unit = units[position]
            guard Self.label(unit) == Int(byte) else { return nil }
            position ^= Self.offset(unit)
            if Self.hasLeaf(unit) {
                guard position < units.count else { return nil }
                let start = Int(units[position] & ((1 << 31) - 1))
                guard start < replacements.count else { return nil }
                let end = replacements[start...].firstIndex(of: 0) ?? replacements.count
                return replacements[start..<end]
            }
        }
        return nil
    }

    /// `text` normalised: each grapheme under six bytes replaced whole if a key starts it, else
    /// each of its characters replaced if a key starts that character, or kept.
    func normalize(_ text: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        for grapheme in text {
            let bytes = Array(grapheme.utf8)
            if bytes.count < 6, let whole = replacement(for: bytes) {
                output += whole
                continue
            }
            for scalar in grapheme.unicodeScalars {
                let part = Array(String(scalar).utf8)
                output += replacement(for: part) ?? part[...]
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    @inline(__always) private static func hasLeaf(_ unit: UInt32) -> Bool { (unit >> 8) & 1 == 1 }
    @inline(__always) private static func label(_ unit: UInt32) -> Int { Int(unit & ((1 << 31) | 0xFF)) }
    @inline(__always) private static func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
}
