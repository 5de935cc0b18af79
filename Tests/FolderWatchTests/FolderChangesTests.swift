@testable import FolderWatch
import Testing

/// Batches name each path once, a changed folder covers what is inside it, renames are followed
/// through folders, and a batch is taken only once its changes have rested (times given, not waited).
@Suite struct FolderChangesTests {
    @Test func aPathIsNamedOnceAndAFolderCoversWhatIsInsideIt() {
        var changes = FolderChanges()
        for _ in 0..<10 { changes.note("/docs/a.md", .file) }
        changes.note("/docs/sub/b.md", .file)
        changes.note("/docs/sub", .folder)
        changes.note("/docs/sub", .file)  // a folder stays a folder
        changes.note("/docs/subway.md", .file)
        #expect(changes.count == 4)
        let reduced = changes.reduced()
        #expect(reduced.folders == ["/docs/sub"])
        #expect(reduced.files == ["/docs/a.md", "/docs/subway.md"])
    }

    @Test func namesAreToldApartByTheirBytes() {
        var changes = FolderChanges()
        let composed = "/docs/caf\u{E9}.md", decomposed = "/docs/cafe\u{301}.md"
        #expect(composed == decomposed)  // equal as Swift strings, two files on disk
        changes.noteRename(from: composed, to: decomposed, .file)
        #expect(changes.count == 2)
        #expect(changes.reduced().files.count == 2)
        #expect(changes.formerPath(of: decomposed).map { Array($0.utf8) } == Array(composed.utf8))
        #expect(changes.formerPath(of: composed) == nil)
    }

    @Test func renamesAreFollowedThroughTheirFolders() {
        var changes = FolderChanges()
        changes.noteRename(from: "/docs/old.md", to: "/docs/new.md", .file)
        changes.noteRename(from: "/docs/drafts", to: "/docs/final", .folder)
        #expect(changes.formerPath(of: "/docs/new.md") == "/docs/old.md")
        #expect(changes.formerPath(of: "/docs/final/deep/c.md") == "/docs/drafts/deep/c.md")
        #expect(changes.formerPath(of: "/docs/finale.md") == nil)
        #expect(changes.kind(of: "/docs/old.md") == .file && changes.kind(of: "/docs/final") == .folder)

        var later = FolderChanges()
        later.note("/docs/x.md", .file)
        later.merge(changes)
        #expect(later.count == 5 && later.formerPath(of: "/docs/new.md") == "/docs/old.md")
    }

    @Test func aBatchIsTakenOnceItsChangesRest() {
        let queue = ChangeQueue(quiet: .milliseconds(200), longest: .seconds(3))
        let ms: UInt64 = 1_000_000
        #expect(queue.takeIfSettled(now: 0) == nil)
        // A burst: 5,000 files, each 0.1 ms after the last, is one batch.
        for index in 0..<5_000 {
            queue.add(now: 1_000 * ms + UInt64(index) * ms / 10) { $0.note("/repo/f\(index).swift", .file) }
        }
        let lastAt = 1_000 * ms + 4_999 * ms / 10
        #expect(queue.takeIfSettled(now: lastAt + 199 * ms) == nil)
        let batch = queue.takeIfSettled(now: lastAt + 200 * ms)
        #expect(batch?.count == 5_000)
        #expect(queue.count == 0 && queue.settlesAt() == nil)
    }

    @Test func aChangeWaitsNoLongerThanTheLongestWait() {
        let queue = ChangeQueue(quiet: .milliseconds(200), longest: .seconds(3))
        let ms: UInt64 = 1_000_000
        // A file written every 100 ms without pause still makes a batch 3 s after its first change.
        var now: UInt64 = 0
        while now < 3_000 * ms {
            queue.add(now: now) { $0.note("/logs/growing.md", .file) }
            #expect(queue.takeIfSettled(now: now) == nil)
            now += 100 * ms
        }
        #expect(queue.takeIfSettled(now: 3_000 * ms)?.count == 1)
        // What could not be applied goes back, and counts as new.
        var failed = FolderChanges()
        failed.note("/logs/growing.md", .file)
        queue.putBack(failed, now: 5_000 * ms)
        #expect(queue.settlesAt() == 5_200 * ms)
    }
}
