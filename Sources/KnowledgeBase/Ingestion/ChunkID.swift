import Digests

/// Stable, content-derived chunk ids.
///
/// The same chunk of the same source always gets the same id, so re-ingesting an unchanged file
/// finds every id already stored and writes nothing; a changed paragraph changes only its own id.
public enum ChunkID {
    /// The id of a chunk: lowercase hex of the first 16 bytes of SHA-256 over the UTF-8 of `source`,
    /// `heading`, `text` and the decimal `occurrence`, separated by NUL bytes.
    ///
    /// `occurrence` counts the chunks with the same heading and text that come before this one in the
    /// same source (0 for the first), so repeated boilerplate still gets distinct ids.
    public static func make(source: String, heading: String, text: String, occurrence: Int) -> String {
        var hasher = SHA256()
        hasher.update(source.utf8)
        hasher.update(CollectionOfOne(0))
        hasher.update(heading.utf8)
        hasher.update(CollectionOfOne(0))
        hasher.update(text.utf8)
        hasher.update(CollectionOfOne(0))
        hasher.update(String(occurrence).utf8)
        return SHA256.hex(hasher.finalize().prefix(16))
    }

    /// The ids of `chunks` of `source`, in order, each with its occurrence counted among the chunks
    /// before it.
    public static func make(source: String, chunks: [TextChunk]) -> [String] {
        var seen: [ChunkKey: Int] = [:]
        return chunks.map { chunk in
            let key = ChunkKey(heading: chunk.heading, text: chunk.text)
            let occurrence = seen[key, default: 0]
            seen[key] = occurrence + 1
            return make(source: source, heading: chunk.heading, text: chunk.text, occurrence: occurrence)
        }
    }
}

private struct ChunkKey: Hashable {
    let heading: String
    let text: String
}
