import Testing

@testable import ModelHub

@Suite struct ModelFileSelectionTests {
    @Test func takesTheWeightsSettingsVocabulariesAndModuleSettings() {
        for path in ["model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "merges.txt",
                     "sentencepiece.bpe.model", "modules.json", "1_Pooling/config.json", "2_Dense/config.json"] {
            #expect(ModelFileSelection.isNeeded(path), "\(path)")
        }
    }

    @Test func leavesOtherWeightsCardsAndAnythingThatCouldStepOutOfTheSnapshot() {
        for path in ["pytorch_model.bin", "tf_model.h5", "onnx/model.onnx", "onnx/config.json", "openvino/openvino_model.xml",
                     "README.md", ".gitattributes", "rust_model.ot", "2_Dense/pytorch_model.bin", "1_Pooling/../../x.json",
                     "../config.json", "/config.json", "a//config.json", "Pooling/config.json", "1_Pooling/a/config.json", "",
                     "con fig.json", "a\u{0}.json", "1_Pooling/\u{1B}config.json", "é.json", "back\\slash.json"] {
            #expect(!ModelFileSelection.isNeeded(path), "\(path)")
        }
    }

    @Test func revisionsAreBranchesTagsOrCommitsAndStayInsideRefs() {
        for revision in ["main", "v1.0", "refs-pr-1", "feature/x", "0123456789abcdef0123456789abcdef01234567"] {
            #expect(ModelFetcher.isRevisionName(revision), "\(revision)")
        }
        for revision in ["", "..", "../main", "a/../b", "/main", "main/", ".hidden", "a b", "main\n", "é"] {
            #expect(!ModelFetcher.isRevisionName(revision), "\(revision.debugDescription)")
        }
    }

    @Test func checksumsMustBeLowercaseHexOfTheirLength() {
        #expect(FileChecksum.sha256(String(repeating: "a", count: 64)).isWellFormed)
        #expect(FileChecksum.gitBlob(String(repeating: "0", count: 40)).isWellFormed)
        #expect(!FileChecksum.sha256(String(repeating: "a", count: 40)).isWellFormed)
        #expect(!FileChecksum.gitBlob("../../../../etc/passwd/00000000000000000000").isWellFormed)
        #expect(!FileChecksum.sha256(String(repeating: "A", count: 64)).isWellFormed)
    }

    @Test func pathsArePercentEncodedSegmentBySegment() {
        #expect(ModelFetcher.escapePath("1_Pooling/config.json") == "1_Pooling/config.json")
        #expect(ModelFetcher.escapePath("a b/c?d#e.json") == "a%20b/c%3Fd%23e.json")
        #expect(ModelFetcher.escape("feature/x") == "feature%2Fx")
    }
}
