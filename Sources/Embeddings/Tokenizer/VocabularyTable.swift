import Foundation

/// A vocabulary (WordPiece's, Unigram's pieces) as an open-addressing hash table keyed by UTF-8
/// byte slices.
///
/// Pieces are looked up straight from the word buffer, without making a `String`. For WordPiece, a
/// token that starts with the continuing-subword prefix ("##") is stored a second time under the key
/// "what follows the prefix" in the continuation kind, so a continuation lookup never builds "##" +
/// piece. Hashes are FNV-1a, which extends one byte at a time: a search hashes each prefix of the
/// remaining word once (WordPiece's greedy longest match, Unigram's lattice), so finding every piece
/// that starts at a position costs one step per byte, not a hash of each candidate anew.
struct VocabularyTable: Sendable {
    /// Which of the two key spaces a lookup is in.
    enum Kind: Int {
        /// The piece at the start of a word, looked up as it is.
        case wordStart = 0
        /// A piece after the first one, looked up with the continuing-subword prefix.
        case continuation = 1
    }

    struct Slot: Sendable {
        var hash: UInt64 = 0
        var offset: UInt32 = 0
        /// Byte length, with the top bit set for the continuation kind.
        var lengthAndKind: UInt32 = 0
        /// -1 for an empty slot.
        var id: Int32 = -1
    }

    /// Every token's UTF-8 bytes, back to back.
    let arena: [UInt8]
    /// Where each id's token lies in `arena`, as offset << 32 | length; `UInt64.max` for an unused id.
    let tokenRanges: [UInt64]
    let slots: [Slot]
    let shift: UInt64
    /// The longest key of each kind, in bytes: longer substrings need no probe.
    let maxKeyLength: (wordStart: Int, continuation: Int)
    /// Number of distinct tokens.
    let count: Int

    static let prime: UInt64 = 0x0000_0100_0000_01B3
    static let wordStartSeed: UInt64 = 0xCBF2_9CE4_8422_2325
    static let continuationSeed: UInt64 = 0x84E1_3A27_5C91_0F6D

    @inline(__always)
    static func seed(_ kind: Kind) -> UInt64 { kind == .wordStart ? wordStartSeed : continuationSeed }

    /// `hash` (FNV-1a) extended by one more byte of the key: how every key's hash is built, so that
    /// a search can hash each prefix of a word once.
    @inline(__always)
    static func hash(_ hash: UInt64, extendedBy byte: UInt8) -> UInt64 { (hash ^ UInt64(byte)) &* prime }

    /// Builds the table from tokens given as byte ranges into `arena`, in file order.
    ///
    /// A token listed twice keeps its last id, as Hugging Face's and transformers' loaders do.
    /// Without a `continuingSubwordPrefix` (Unigram) there is only the word-start kind.
    init(arena: [UInt8], tokens: [(offset: Int, length: Int, id: Int32)], continuingSubwordPrefix: [UInt8]?) {
        self.arena = arena
        var capacity = 16
        // Room for each kind's keys at a load of at most 0.5.
        while capacity < tokens.count * (continuingSubwordPrefix == nil ? 2 : 4) { capacity <<= 1 }
        var bits: UInt64 = 0
        while (1 << bits) < capacity { bits += 1 }
        let shift = 64 - bits
        self.shift = shift
        var slots = [Slot](repeating: Slot(), count: capacity)
        var maxStart = 0
        var maxContinuation = 0
        var distinct = 0
        var maxID: Int32 = -1
        arena.withUnsafeBufferPointer { bytes in
            for token in tokens {
                maxID = max(maxID, token.id)
                if Self.insert(&slots, shift: shift, bytes: bytes, offset: token.offset, length: token.length, kind: .wordStart, id: token.id) {
                    distinct += 1
                }
                maxStart = max(maxStart, token.length)
                guard let prefix = continuingSubwordPrefix, token.length > prefix.count else { continue }
                var hasPrefix = true
                for k in 0..<prefix.count where bytes[token.offset + k] != prefix[k] {
                    hasPrefix = false
                    break
                }
                guard hasPrefix else { continue }
                let rest = token.length - prefix.count
                _ = Self.insert(&slots, shift: shift, bytes: bytes, offset: token.offset + prefix.count, length: rest, kind: .continuation, id: token.id)
                maxContinuation = max(maxContinuation, rest)
            }
        }
        // The reverse map follows the final (last-wins) forward map, so an id whose token was
        // listed again later has no token, as in Hugging Face's `id_to_token`.
        var ranges = [UInt64](repeating: UInt64.max, count: Int(maxID) + 1)
        for slot in slots where slot.id >= 0 && slot.lengthAndKind & 0x8000_0000 == 0 {
            ranges[Int(slot.id)] = UInt64(slot.offset) << 32 | UInt64(slot.lengthAndKind)
        }
        self.slots = slots
        self.tokenRanges = ranges
        self.maxKeyLength = (maxStart, maxContinuation)
        self.count = distinct
    }

    /// Inserts or overwrites; returns true when the key was new.
    private static func insert(
        _ slots: inout [Slot], shift: UInt64, bytes: UnsafeBufferPointer<UInt8>,
        offset: Int, length: Int, kind: Kind, id: Int32
    ) -> Bool {
        var hash = seed(kind)
        for k in offset..<(offset + length) { hash = Self.hash(hash, extendedBy: bytes[k]) }
        let lengthAndKind = UInt32(length) | (kind == .continuation ? 0x8000_0000 : 0)
        let mask = slots.count - 1
        var index = Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while slots[index].id >= 0 {
            let slot = slots[index]
            if slot.hash == hash && slot.lengthAndKind == lengthAndKind
                && bytesEqual(bytes, Int(slot.offset), offset, length)
            {
                slots[index].id = id
                return false
            }
            index = (index + 1) & mask
        }
        slots[index] = Slot(hash: hash, offset: UInt32(offset), lengthAndKind: lengthAndKind, id: id)
        return true
    }

    private static func bytesEqual(_ bytes: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int, _ length: Int) -> Bool {
        for k in 0..<length where bytes[a + k] != bytes[b + k] { return false }
        return true
    }

    /// The token with this id, if there is one.
    func token(forID id: Int32) -> String? {
        guard id >= 0, Int(id) < tokenRanges.count else { return nil }
        let range = tokenRanges[Int(id)]
        guard range != UInt64.max else { return nil }
        let offset = Int(range >> 32)
        let length = Int(range & 0xFFFF_FFFF)
        return String(decoding: arena[offset..<(offset + length)], as: UTF8.self)
    }

    /// The id of a whole token (as listed in the vocabulary), if present.
    func id(forToken token: String) -> Int32? {
        id(forBytes: Array(token.utf8)[...])
    }

    /// The id of the whole token spelled by `bytes`, if present.
    func id(forBytes bytes: ArraySlice<UInt8>) -> Int32? {
        let hash = bytes.reduce(Self.wordStartSeed) { Self.hash($0, extendedBy: $1) }
        let id = bytes.withUnsafeBufferPointer { key in
            withLookup { $0.find(hash: hash, key: key.baseAddress, length: key.count, kind: .wordStart) }
        }
        return id >= 0 ? id : nil
    }

    /// Runs `body` with raw access to the table for a burst of lookups.
    @inline(__always)
    func withLookup<R>(_ body: (Lookup) -> R) -> R {
        slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                body(Lookup(slots: slots, arena: arena, shift: shift))
            }
        }
    }

    /// The table seen through raw pointers, valid inside `withLookup`.
    struct Lookup {
        let slots: UnsafeBufferPointer<Slot>
        let arena: UnsafeBufferPointer<UInt8>
        let shift: UInt64

        /// The id stored under the key, or -1. `hash` is the FNV-1a of the key from `seed(kind)`.
        @inline(__always)
        func find(hash: UInt64, key: UnsafePointer<UInt8>?, length: Int, kind: Kind) -> Int32 {
            let lengthAndKind = UInt32(truncatingIfNeeded: length) | (kind == .continuation ? 0x8000_0000 : 0)
            let mask = slots.count - 1
            var index = Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> shift)
            while true {
                let slot = slots[index]
                if slot.id < 0 { return -1 }
                if slot.hash == hash && slot.lengthAndKind == lengthAndKind {
                    if length == 0 { return slot.id }
                    if let key, let base = arena.baseAddress, memcmp(base + Int(slot.offset), key, length) == 0 {
                        return slot.id
                    }
                }
                index = (index + 1) & mask
            }
        }
    }
}
