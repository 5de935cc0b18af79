import BytePaths
import Foundation
@testable import KnowledgeBase
import Testing

/// The ways out of the allowed folders an outside attack found (issue 24), each closed at its root.
@Suite struct PathEscapeTests {
    /// A fresh folder with the layout a test builds through POSIX calls, which keep a name's bytes
    /// exactly as spelled (no normalisation on the way).
    private final class Tree {
        let base: String

        init() throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("escape-\(UUID().uuidString)").path
            try #require(mkdir(folder, 0o700) == 0)
            base = try #require(PathBytes.resolve(folder))
        }

        // rm walks by descriptor, so it also removes a tree deeper than PATH_MAX.
        deinit {
            let remove = Process()
            remove.executableURL = URL(fileURLWithPath: "/bin/rm")
            remove.arguments = ["-rf", base]
            try? remove.run()
            remove.waitUntilExit()
        }

        func path(_ relative: String) -> String { base + "/" + relative }

        func folder(_ relative: String) throws {
            try #require(mkdir(path(relative), 0o700) == 0, "mkdir \(relative)")
        }

        func file(_ relative: String, _ text: String = "# Secret\n\nnot for the knowledge base\n") throws {
            let descriptor = open(path(relative), O_CREAT | O_WRONLY | O_TRUNC, 0o600)
            try #require(descriptor >= 0, "create \(relative)")
            _ = text.withCString { write(descriptor, $0, strlen($0)) }
            close(descriptor)
        }

        func link(_ relative: String, to target: String) throws {
            try #require(symlink(target, path(relative)) == 0, "symlink \(relative)")
        }
    }

    private func refusal(_ roots: AllowedRoots, _ path: String, mustExist: Bool = true) -> String? {
        do {
            _ = try roots.check(path, mustExist: mustExist)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func aFolderCanonicallyEquivalentToARootIsAnotherFolder() throws {
        let tree = try Tree()
        let precomposed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(precomposed == decomposed, "Swift's String equality is what made this an escape")
        try tree.folder(precomposed)
        try tree.folder(decomposed)
        try tree.file(decomposed + "/private.md")
        let roots = AllowedRoots([URL(fileURLWithPath: tree.path(precomposed))])
        #expect(refusal(roots, tree.path(decomposed + "/private.md"))?.contains("outside the allowed folders") == true)
        #expect(refusal(roots, tree.path(decomposed))?.contains("outside the allowed folders") == true)
        #expect(refusal(roots, tree.path(decomposed + "/gone.md"), mustExist: false)?.contains("outside") == true)
        #expect(try roots.check(tree.path(precomposed)) == tree.path(precomposed))

        // Against a plain ASCII root: U+212A KELVIN SIGN is canonically equivalent to "K".
        try tree.folder("K")
        try tree.folder("\u{212A}")
        try tree.file("\u{212A}/private.md")
        let ascii = AllowedRoots([URL(fileURLWithPath: tree.path("K"))])
        #expect(refusal(ascii, tree.path("\u{212A}/private.md")) != nil)
        #expect(!PathBytes.isInside(tree.path("\u{212A}/private.md"), tree.path("K")))
    }

    @Test func theWalkKeepsCanonicallyEquivalentNamesApart() throws {
        let tree = try Tree()
        try tree.folder("docs")
        try tree.file("docs/caf\u{E9}.md", "one")
        try tree.file("docs/cafe\u{301}.md", "two")
        let files = try FileWalker(maxFiles: 100).walk([tree.path("docs")]).files
        #expect(files.count == 2)
    }

    @Test func aSymlinkLeavingTheRootIsOneSkippedEntryNeverWalked() throws {
        let tree = try Tree()
        try tree.folder("docs")
        try tree.file("docs/a.md", "inside")
        try tree.link("docs/etc", to: "/etc")
        try tree.link("docs/everything", to: "/")
        try tree.link("docs/dangling", to: "/no/such/place")
        let roots = AllowedRoots([URL(fileURLWithPath: tree.path("docs"))])
        // A limit far below what / holds: following the link would refuse the whole ingest.
        let listing = try FileWalker(maxFiles: 50, roots: roots).walk([tree.path("docs")])
        #expect(listing.files == [tree.path("docs/a.md")])
        #expect(Set(listing.skipped.map(\.path)) == [tree.path("docs/etc"), tree.path("docs/everything"), tree.path("docs/dangling")])
        // The outside target and the missing one read alike.
        #expect(Set(listing.skipped.map(\.reason)).count == 1)
        #expect(listing.skipped.allSatisfy { $0.reason.contains("outside the allowed folders") })
    }

    @Test func aSymlinkStayingInsideTheRootsIsFollowed() throws {
        let tree = try Tree()
        try tree.folder("docs")
        try tree.folder("more")
        try tree.file("more/b.md", "inside another root")
        try tree.link("docs/more", to: tree.path("more"))
        let roots = AllowedRoots([URL(fileURLWithPath: tree.path("docs")), URL(fileURLWithPath: tree.path("more"))])
        let listing = try FileWalker(maxFiles: 50, roots: roots).walk([tree.path("docs")])
        #expect(listing.files == [tree.path("more/b.md")])
        #expect(listing.skipped.isEmpty)
    }

    @Test func aPathOutsideIsRefusedAlikeWhetherItExistsOrNot() throws {
        let tree = try Tree()
        try tree.folder("docs")
        try tree.file("outside.md")
        try tree.link("docs/out-existing", to: tree.path("outside.md"))
        try tree.link("docs/out-missing", to: tree.path("missing.md"))
        let roots = AllowedRoots([URL(fileURLWithPath: tree.path("docs"))])
        func shape(_ message: String?, _ path: String) -> String? { message?.replacingOccurrences(of: path, with: "PATH") }
        let pairs = [(tree.path("outside.md"), tree.path("missing.md")), ("/etc/passwd", "/etc/no-such-file-here"),
                     (tree.path("docs/out-existing"), tree.path("docs/out-missing")),
                     (tree.path("docs/../outside.md"), tree.path("docs/../missing.md"))]
        for (existing, missing) in pairs {
            for mustExist in [true, false] {
                let a = shape(refusal(roots, existing, mustExist: mustExist), existing)
                let b = shape(refusal(roots, missing, mustExist: mustExist), missing)
                #expect(a != nil && a == b, "\(existing) / \(missing)")
            }
        }
        // Inside a root, a missing file is still said to be missing.
        #expect(refusal(roots, tree.path("docs/typo.md"))?.contains("does not exist") == true)
        #expect(try roots.check(tree.path("docs/sub/gone.md"), mustExist: false) == tree.path("docs/sub/gone.md"))
    }

    @Test func aFolderSwappedForALinkAfterTheWalkIsNotRead() throws {
        let tree = try Tree()
        try tree.folder("docs")
        try tree.folder("docs/sub")
        try tree.file("docs/sub/a.md", "inside")
        try tree.folder("outside")
        try tree.file("outside/a.md", "# Outside\n\nsecret outside text\n")
        let roots = AllowedRoots([URL(fileURLWithPath: tree.path("docs"))])
        let listing = try FileWalker(maxFiles: 50, roots: roots).walk([tree.path("docs")])
        #expect(listing.files == [tree.path("docs/sub/a.md")])
        // Between the walk and the read, the folder becomes a link to the outside folder.
        try #require(rename(tree.path("docs/sub"), tree.path("docs/old")) == 0)
        try tree.link("docs/sub", to: tree.path("outside"))
        let loader = DocumentLoader()
        #expect(try loader.read(path: tree.path("docs/sub/a.md"), confinedTo: roots) == .skipped(.changedWhileReading))
        // The same for the file itself becoming a link.
        try tree.file("docs/b.md", "inside")
        try #require(unlink(tree.path("docs/b.md")) == 0)
        try tree.link("docs/b.md", to: tree.path("outside/a.md"))
        #expect(try loader.read(path: tree.path("docs/b.md"), confinedTo: roots) == .skipped(.changedWhileReading))
        // And a folder swapped while the walk goes is listed as skipped, its contents never.
        try tree.folder("docs/later")
        try tree.file("docs/later/c.md", "inside")
        #expect(try loader.read(path: tree.path("docs/later/c.md"), confinedTo: roots) == .loaded(Array("inside".utf8)))
    }

    @Test func specialFilesAndUndecodableNamesAreListedWithTheirReason() throws {
        let tree = try Tree()
        try tree.folder("docs")
        try #require(mkfifo(tree.path("docs/pipe.md"), 0o600) == 0)
        // A name in Latin-1: not UTF-8.
        var bytes = Array(tree.path("docs/caf").utf8) + [0xE9] + Array(".md".utf8) + [0]
        let descriptor = bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o600) }
        }
        try #require(descriptor >= 0)
        close(descriptor)
        let listing = try FileWalker(maxFiles: 50).walk([tree.path("docs")])
        #expect(listing.files.isEmpty)
        let reasons = Dictionary(uniqueKeysWithValues: listing.skipped.map { (URL(fileURLWithPath: $0.path).lastPathComponent, $0.reason) })
        #expect(reasons["pipe.md"]?.contains("FIFO") == true)
        #expect(reasons["caf\u{FFFD}.md"]?.contains("not valid UTF-8") == true)
    }

    @Test func pathsGivenAreCheckedAsTheWalkChecksThem() throws {
        let tree = try Tree()
        try tree.folder("docs")
        try tree.file("docs/a.md", "text")
        try #require(mkfifo(tree.path("pipe"), 0o600) == 0)
        let ingestable = [tree.path("docs"), tree.path("docs/a.md")]
        try FileWalker.checkGiven(ingestable)
        for bad in [tree.path("missing"), tree.path("pipe")] {
            let checked = #expect(throws: InvalidRequest.self) { try FileWalker.checkGiven(ingestable + [bad]) }
            let walked = #expect(throws: InvalidRequest.self) { try FileWalker(maxFiles: 50).walk(ingestable + [bad]) }
            #expect(checked?.description == walked?.description)
            #expect(checked?.description.hasPrefix(bad) == true)
        }
    }

    @Test func aDeepChainOfFoldersIsWalkedWholeOrSaysWhereItStopped() throws {
        let tree = try Tree()
        try tree.folder("deep")
        try tree.file("deep/top.md", "at the top")
        // 2,100 levels of "d", made from each level's descriptor: the path passes PATH_MAX (4,096
        // bytes) on the way down, and the files below that cannot be opened by name.
        var descriptor = open(tree.path("deep"), O_RDONLY | O_DIRECTORY)
        for _ in 0..<2_100 {
            try #require(mkdirat(descriptor, "d", 0o700) == 0)
            let next = openat(descriptor, "d", O_RDONLY | O_DIRECTORY)
            close(descriptor)
            descriptor = next
            try #require(descriptor >= 0)
        }
        let bottom = openat(descriptor, "bottom.md", O_CREAT | O_WRONLY, 0o600)
        close(bottom)
        close(descriptor)
        let listing = try FileWalker(maxFiles: 50).walk([tree.path("deep")])
        #expect(listing.files == [tree.path("deep/top.md")])
        // Nothing vanishes silently: the first folder too deep to open by name is listed with why.
        #expect(listing.skipped.count == 1)
        #expect(listing.skipped.first?.reason.contains("too long") == true)
        #expect((listing.skipped.first?.path.utf8.count ?? 0) > Int(PATH_MAX) - 2)
    }
}
