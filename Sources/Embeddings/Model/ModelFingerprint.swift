import Digests
import Foundation

/// A short name for what a model folder computes, the same on every machine that holds the same
/// files: it keys cached answers, so that a result computed by one model is never served for
/// another (a fine-tune kept in a folder of the same name included).
///
/// SHA-256 over the files that decide the vectors: `config.json`, the tokenizer's files, the
/// pooling and sentence-transformers settings, and `model.safetensors`' size, header (every tensor's
/// name, type, shape and offsets) and the first and last MiB of its data. Reading the whole weights
/// file would cost a tenth of a second at every start. A full fine-tune changes every tensor, so
/// the sampled ends tell it apart; one merged into a few layers may not change them, and
/// `weightsDigest`, which samples every tensor, tells that one apart. The fingerprint names Chroma
/// collections and keys cached answers, so it stays what knowledge bases recorded; the weights'
/// digest is recorded beside it.
public enum ModelFingerprint {
    /// Bytes of the weights read from each end.
    static let sampledBytes = 1 << 20

    /// The folder's fingerprint as 16 hex digits; nil when its weights cannot be read.
    public static func of(directory: URL) -> String? {
        var hasher = SHA256()
        let transformerFiles = ["config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]
        for name in transformerFiles + SentenceTransformerSettings.files(in: directory) {
            // Absent files count as empty, by name, so adding one changes the fingerprint.
            hasher.update(name.utf8)
            hasher.update(CollectionOfOne(0))
            if let data = try? Data(contentsOf: directory.appendingPathComponent(name)) {
                hasher.update(CollectionOfOne(1))
                data.withUnsafeBytes { hasher.update($0) }
            }
        }
        guard let weights = FileHandle(forReadingAtPath: directory.appendingPathComponent("model.safetensors").path) else {
            return nil
        }
        defer { try? weights.close() }
        guard let size = try? weights.seekToEnd(), size >= 8 else { return nil }
        hasher.update(withUnsafeBytes(of: size.littleEndian) { Array($0) })
        // The header: an 8-byte little-endian length, then that much JSON.
        guard (try? weights.seek(toOffset: 0)) != nil, let prefix = try? weights.read(upToCount: 8), prefix.count == 8 else {
            return nil
        }
        let headerLength = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= size - 8 else { return nil }
        let dataStart = 8 + headerLength
        let head = min(UInt64(sampledBytes), size - dataStart)
        guard let start = try? weights.read(upToCount: Int(headerLength + head)) else { return nil }
        start.withUnsafeBytes { hasher.update($0) }
        let tailStart = max(dataStart + head, size - min(size, UInt64(sampledBytes)))
        if tailStart < size {
            guard (try? weights.seek(toOffset: tailStart)) != nil, let tail = try? weights.readToEnd() else { return nil }
            tail.withUnsafeBytes { hasher.update($0) }
        }
        return SHA256.hex(hasher.finalize().prefix(8))
    }

    /// Bytes read from each end and from the middle of every tensor by `weightsDigest`.
    static let tensorSampleBytes = 4 << 10

    /// 16 hex digits over every tensor of `model.safetensors`: its name and bytes from its start,
    /// middle and end (the whole of a small one). The fingerprint samples the file's two ends
    /// only, and a fine-tune merged into some layers (LoRA's query and value weights, say) leaves
    /// them as they were; it changes every value of the tensors it touches, so a sample of each
    /// tells the two apart, at a read of a few hundred KB. Nil when the weights cannot be read.
    public static func weightsDigest(directory: URL) -> String? {
        // The header read and checked as loading reads it; only the sampled pages of the mapping are touched.
        guard let weights = try? SafeTensorsFile(path: directory.appendingPathComponent("model.safetensors").path) else {
            return nil
        }
        var hasher = SHA256()
        for (name, tensor) in weights.tensors.sorted(by: { $0.key < $1.key }) {
            hasher.update(name.utf8)
            hasher.update(CollectionOfOne(0))
            let (start, length) = (tensor.dataRange.lowerBound, tensor.dataRange.count)
            let sample = tensorSampleBytes
            let ranges = length <= 3 * sample
                ? [start..<(start + length)]
                : [start..<(start + sample), (start + length / 2)..<(start + length / 2 + sample), (start + length - sample)..<(start + length)]
            for range in ranges { hasher.update(weights.bytes(in: range)) }
        }
        return SHA256.hex(hasher.finalize().prefix(8))
    }
}
