import Embeddings
import Foundation
import Testing

@Suite("A model's fingerprint follows its files, not its folder's name")
struct ModelFingerprintTests {
    /// A model folder of `weightBytes` bytes of tensor data after a small safetensors header.
    private func makeModel(at folder: URL, weightBytes: Int, tokenizer: String = "{\"model\": 1}") throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("{\"hidden_size\": 4}".utf8).write(to: folder.appendingPathComponent("config.json"))
        try Data(tokenizer.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        let header = Data("{\"w\":{\"dtype\":\"F32\",\"shape\":[\(weightBytes / 4)],\"data_offsets\":[0,\(weightBytes)]}}".utf8)
        var file = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) }
        file.append(header)
        file.append(Data((0..<weightBytes).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        try file.write(to: folder.appendingPathComponent("model.safetensors"))
    }

    private func flipByte(at offsetFromEnd: Int, in folder: URL) throws {
        let url = folder.appendingPathComponent("model.safetensors")
        var data = try Data(contentsOf: url)
        data[data.count - offsetFromEnd] ^= 0xFF
        try data.write(to: url)
    }

    @Test func sameFilesSameFingerprintWhateverTheFolder() throws {
        let root = try TemporaryFolder()
        let a = root.url.appendingPathComponent("one/all-MiniLM-L6-v2")
        let b = root.url.appendingPathComponent("two/another-name")
        for folder in [a, b] { try makeModel(at: folder, weightBytes: 3 << 20) }
        let fingerprint = try #require(ModelFingerprint.of(directory: a))
        #expect(fingerprint.count == 16)
        #expect(ModelFingerprint.of(directory: b) == fingerprint)
    }

    @Test func changedWeightsOrTokenizerChangeIt() throws {
        let root = try TemporaryFolder()
        let original = root.url.appendingPathComponent("original")
        try makeModel(at: original, weightBytes: 3 << 20)
        let fingerprint = try #require(ModelFingerprint.of(directory: original))
        let changes: [(URL) throws -> Void] = [
            { try self.flipByte(at: 1, in: $0) },
            { try self.flipByte(at: (3 << 20) - 10, in: $0) },
            { try Data("{\"model\": 2}".utf8).write(to: $0.appendingPathComponent("tokenizer.json")) },
        ]
        for (index, change) in changes.enumerated() {
            let copy = root.url.appendingPathComponent("copy-\(index)")
            try makeModel(at: copy, weightBytes: 3 << 20)
            try change(copy)
            #expect(ModelFingerprint.of(directory: copy) != fingerprint, "change \(index)")
        }
        let small = root.url.appendingPathComponent("small")
        try makeModel(at: small, weightBytes: 1_000)
        #expect(ModelFingerprint.of(directory: small) != nil, "weights smaller than the samples")
    }

    @Test func noWeightsNoFingerprint() throws {
        let root = try TemporaryFolder()
        #expect(ModelFingerprint.of(directory: root.url) == nil)
        #expect(ModelFingerprint.weightsDigest(directory: root.url) == nil)
    }

    /// Three tensors of `tensorBytes` each; `middle` fills the second, the one a fine-tune changes.
    private func makeLayeredModel(at folder: URL, tensorBytes: Int, middle: UInt8) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("{\"hidden_size\": 4}".utf8).write(to: folder.appendingPathComponent("config.json"))
        let names = ["a.embeddings", "b.layer.query", "c.layer.output"]
        let entries = names.enumerated().map { index, name in
            "\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(tensorBytes / 4)],\"data_offsets\":[\(index * tensorBytes),\((index + 1) * tensorBytes)]}"
        }
        let header = Data("{\(entries.joined(separator: ","))}".utf8)
        var file = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) }
        file.append(header)
        file.append(Data(repeating: 1, count: tensorBytes))
        file.append(Data(repeating: middle, count: tensorBytes))
        file.append(Data(repeating: 3, count: tensorBytes))
        try file.write(to: folder.appendingPathComponent("model.safetensors"))
    }

    @Test func aTensorChangedInTheMiddleOfTheFileChangesTheWeightsDigestNotTheFingerprint() throws {
        // A fine-tune merged into one layer: the file's first and last MiB are as they were.
        let root = try TemporaryFolder()
        let (base, tuned) = (root.url.appendingPathComponent("base"), root.url.appendingPathComponent("tuned"))
        try makeLayeredModel(at: base, tensorBytes: 2 << 20, middle: 2)
        try makeLayeredModel(at: tuned, tensorBytes: 2 << 20, middle: 9)
        #expect(ModelFingerprint.of(directory: base) == ModelFingerprint.of(directory: tuned), "the sampled ends agree")
        let digest = try #require(ModelFingerprint.weightsDigest(directory: base))
        #expect(digest.count == 16)
        #expect(ModelFingerprint.weightsDigest(directory: tuned) != digest)
        let copy = root.url.appendingPathComponent("elsewhere/copy")
        try makeLayeredModel(at: copy, tensorBytes: 2 << 20, middle: 2)
        #expect(ModelFingerprint.weightsDigest(directory: copy) == digest, "the same files, wherever they are")
        let small = root.url.appendingPathComponent("small")
        try makeLayeredModel(at: small, tensorBytes: 400, middle: 2)
        #expect(ModelFingerprint.weightsDigest(directory: small) != nil, "tensors smaller than the samples")
        let empty = root.url.appendingPathComponent("empty")
        try makeLayeredModel(at: empty, tensorBytes: 0, middle: 2)
        #expect(ModelFingerprint.weightsDigest(directory: empty) != nil, "tensors of no values (shape [0])")
    }
}
