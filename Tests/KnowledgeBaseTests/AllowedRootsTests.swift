import BytePaths
import Foundation
@testable import KnowledgeBase
import Testing

@Suite struct AllowedRootsTests {
    /// A temporary tree: root/docs/a.md, root/outside.md, root/docs/link.md → ../outside.md.
    private func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("roots-\(UUID().uuidString)")
        let docs = root.appendingPathComponent("docs")
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        try "a".write(to: docs.appendingPathComponent("a.md"), atomically: true, encoding: .utf8)
        try "secret".write(to: root.appendingPathComponent("outside.md"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: docs.appendingPathComponent("link.md").path,
                                                   withDestinationPath: "../outside.md")
        return root
    }

    @Test func nothingIsAllowedByDefault() {
        #expect(throws: InvalidRequest.self) { try AllowedRoots([]).check("/tmp") }
        do {
            _ = try AllowedRoots([]).check("/tmp")
        } catch {
            #expect("\(error)".contains("MCP_RAG_ALLOWED_ROOTS"))
        }
    }

    @Test func pathsInsideAreResolvedAndOthersRefused() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let roots = AllowedRoots([root.appendingPathComponent("docs")])
        let resolvedDocs = try #require(PathBytes.resolve(root.appendingPathComponent("docs").path))
        #expect(try roots.check(root.appendingPathComponent("docs/a.md").path) == resolvedDocs + "/a.md")
        #expect(try roots.check(root.appendingPathComponent("docs/./../docs").path) == resolvedDocs)
        for escaping in ["docs/../outside.md", "docs/link.md", "outside.md"] {
            #expect(throws: InvalidRequest.self) { try roots.check(root.appendingPathComponent(escaping).path) }
        }
        #expect(throws: InvalidRequest.self) { try roots.check(root.appendingPathComponent("docs/missing.md").path) }
        #expect(throws: InvalidRequest.self) { try roots.check("/etc/passwd") }
    }

    @Test func aSiblingWithTheSamePrefixIsOutside() {
        #expect(PathBytes.isInside("/data/docs/a", "/data/docs"))
        #expect(PathBytes.isInside("/data/docs", "/data/docs"))
        #expect(!PathBytes.isInside("/data/docs2/a", "/data/docs"))
        #expect(PathBytes.isInside("/anything", "/"))
    }

    @Test func procSysAndDevAreRefusedEvenUnderRoot() {
        let everything = AllowedRoots([URL(fileURLWithPath: "/")])
        for path in ["/proc/self/environ", "/sys/kernel", "/dev/null"] {
            #expect(throws: InvalidRequest.self) { try everything.check(path) }
        }
    }

    @Test func aFIFOInsideARootIsRefusedAndSkippedByTheWalk() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let docs = root.appendingPathComponent("docs")
        let fifo = docs.appendingPathComponent("pipe.md").path
        try #require(mkfifo(fifo, 0o600) == 0)
        #expect(throws: InvalidRequest.self) { try AllowedRoots([docs]).check(fifo) }
        // Reading a FIFO would block the ingest until a writer came: the walk leaves it out.
        let names = try FileWalker(maxFiles: 100).walk([docs.path]).files.map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(!names.contains("pipe.md"))
    }

    @Test func aDeletedFileCanStillBeNamedForRemoval() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let roots = AllowedRoots([root.appendingPathComponent("docs")])
        let gone = root.appendingPathComponent("docs/deleted.md").path
        #expect(try roots.check(gone, mustExist: false).hasSuffix("/docs/deleted.md"))
    }

    @Test func walkerSkipsHiddenAndDependencyFoldersAndFollowsLinksOnce() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let docs = root.appendingPathComponent("docs")
        for hidden in [".git/config", "node_modules/x.md", "sub/b.md"] {
            let url = docs.appendingPathComponent(hidden)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try "x".write(to: url, atomically: true, encoding: .utf8)
        }
        // A cycle: docs/sub/loop → docs.
        try FileManager.default.createSymbolicLink(atPath: docs.appendingPathComponent("sub/loop").path,
                                                   withDestinationPath: docs.path)
        let files = try FileWalker(maxFiles: 100).walk([docs.path]).files
        let names = files.map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(names.sorted() == ["a.md", "b.md", "outside.md"])
        #expect(throws: InvalidRequest.self) { try FileWalker(maxFiles: 2).walk([docs.path]) }
    }
}
