import Foundation
@testable import FolderWatch
import Testing

/// The watcher on a real folder through inotify: each step waits for the batch the change makes
/// (the queue wakes the test; nothing sleeps), with a time limit in case none comes.
@Suite(.timeLimit(.minutes(1))) struct TreeWatcherTests {
    private func makeFolder() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tree-watch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
    }

    /// Batches until one names `path`; returns every batch taken on the way, merged.
    private func changes(naming path: String, from queue: ChangeQueue) async -> FolderChanges {
        var seen = FolderChanges()
        for await _ in queue.wakeups {
            guard let batch = await queue.settled() else { continue }
            seen.merge(batch)
            if seen.kind(of: path) != nil { return seen }
        }
        return seen
    }

    private func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    @Test func followsFilesFoldersRenamesAndARootThatComesBack() async throws {
        let root = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let queue = ChangeQueue(quiet: .milliseconds(50), longest: .seconds(1))
        let watcher = try TreeWatcher(queue: queue, configuration: .init(ignoredFolderNames: [Array("node_modules".utf8)]))
        watcher.start()
        defer { watcher.stop() }
        watcher.watch(roots: [root])
        // A root newly watched is read in full.
        #expect(await changes(naming: root, from: queue).kind(of: root) == .folder)

        try write("# A", to: root + "/a.md")
        #expect(await changes(naming: root + "/a.md", from: queue).kind(of: root + "/a.md") == .file)

        // Hidden files and ignored folders are never named; what comes after them is.
        try FileManager.default.createDirectory(atPath: root + "/node_modules", withIntermediateDirectories: false)
        try write("x", to: root + "/.a.md.swp")
        try write("x", to: root + "/node_modules/x.md")
        try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: false)
        try write("# B", to: root + "/sub/b.md")
        let afterHidden = await changes(naming: root + "/sub", from: queue)
        #expect(afterHidden.kind(of: root + "/.a.md.swp") == nil && afterHidden.kind(of: root + "/node_modules") == nil)
        #expect(afterHidden.kind(of: root + "/sub") == .folder)
        // The new folder is watched: a file written in it later is named.
        try write("# C", to: root + "/sub/c.md")
        #expect(await changes(naming: root + "/sub/c.md", from: queue).kind(of: root + "/sub/c.md") == .file)

        try FileManager.default.moveItem(atPath: root + "/a.md", toPath: root + "/renamed.md")
        let renamed = await changes(naming: root + "/renamed.md", from: queue)
        #expect(renamed.formerPath(of: root + "/renamed.md") == root + "/a.md")
        #expect(renamed.kind(of: root + "/a.md") == .file)

        // A folder moved within the tree: its files are named under the new path from then on.
        try FileManager.default.moveItem(atPath: root + "/sub", toPath: root + "/moved")
        let moved = await changes(naming: root + "/moved", from: queue)
        #expect(moved.formerPath(of: root + "/moved/b.md") == root + "/sub/b.md")
        try write("# C again", to: root + "/moved/c.md")
        let inMoved = await changes(naming: root + "/moved/c.md", from: queue)
        #expect(inMoved.kind(of: root + "/sub/c.md") == nil)

        // The root deleted, then made again: named both times.
        try FileManager.default.removeItem(atPath: root)
        #expect(await changes(naming: root, from: queue).kind(of: root) == .folder)
        #expect(watcher.status.missingRoots == [root])
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        #expect(await changes(naming: root, from: queue).kind(of: root) == .folder)
        #expect(watcher.status.missingRoots.isEmpty)
    }

    @Test func linksMadeInAFolderAreNamedAndARootWhoseParentMovesIsLookedForAgain() async throws {
        let top = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: top) }
        let root = top + "/notes"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        try write("# Target", to: top + "/target.md")
        let queue = ChangeQueue(quiet: .milliseconds(50), longest: .seconds(1))
        let watcher = try TreeWatcher(queue: queue, configuration: .init())
        watcher.start()
        defer { watcher.stop() }
        watcher.watch(roots: [root])
        _ = await changes(naming: root, from: queue)

        // A link is never written and closed: it is named when made.
        try FileManager.default.createSymbolicLink(atPath: root + "/linked.md", withDestinationPath: top + "/target.md")
        #expect(await changes(naming: root + "/linked.md", from: queue).kind(of: root + "/linked.md") == .file)
        #expect(link(top + "/target.md", root + "/hard.md") == 0)
        #expect(await changes(naming: root + "/hard.md", from: queue).kind(of: root + "/hard.md") == .file)

        // The root's parent renamed: no event names the root, but its path no longer holds it.
        try FileManager.default.moveItem(atPath: top, toPath: top + "-moved")
        defer { try? FileManager.default.removeItem(atPath: top + "-moved") }
        #expect(await changes(naming: root, from: queue).kind(of: root) == .folder)
        #expect(watcher.status.missingRoots == [root])
    }

    @Test func aFolderLimitReachedIsAWarningNamingTheFirstFolderLeftOut() async throws {
        let root = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for name in ["one", "two", "three", "four"] {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: false)
        }
        let queue = ChangeQueue(quiet: .milliseconds(50), longest: .seconds(1))
        let watcher = try TreeWatcher(queue: queue, configuration: .init(folderLimit: 2))
        watcher.start()
        defer { watcher.stop() }
        watcher.watch(roots: [root])
        _ = await changes(naming: root, from: queue)
        let status = watcher.status
        #expect(status.watchedFolders == 2)
        #expect(status.unwatchedFolders == 3)
        #expect(status.limitWarning?.contains("MCP_RAG_WATCH_FOLDER_LIMIT (2 folders) is reached") == true)
    }

    @Test func foldersWhoseNamesDifferOnlyInUnicodeFormAreTwoFolders() async throws {
        let root = try makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // "café" precomposed and decomposed: one name to Swift's strings, two folders on disk.
        let composed = root + "/caf\u{E9}", decomposed = root + "/cafe\u{301}"
        #expect(mkdir(composed, 0o755) == 0 && mkdir(decomposed, 0o755) == 0)
        let queue = ChangeQueue(quiet: .milliseconds(50), longest: .seconds(1))
        let watcher = try TreeWatcher(queue: queue, configuration: .init(ignoredFolderNames: []))
        watcher.start()
        defer { watcher.stop() }
        watcher.watch(roots: [root])
        _ = await changes(naming: root, from: queue)
        #expect(watcher.status.watchedFolders == 3)
        for folder in [composed, decomposed] {
            try write("# x", to: folder + "/x.md")
            #expect(await changes(naming: folder + "/x.md", from: queue).kind(of: folder + "/x.md") == .file)
        }
    }
}
