import BytePaths
import FolderWatch
import Foundation
@testable import KnowledgeBase
import SQLiteLedger
import Testing

/// How a batch of changed paths becomes ingests and removals: each path under its deepest watched
/// folder, read if there and forgotten if gone, files the knowledge base does not read left out,
/// inner watched folders excluded from the outer one's walk. The disk is described, not touched.
@Suite struct FolderSyncPlanTests {
    @Test func eachPathGoesToItsDeepestFolder() {
        let folders = [FolderRecord(path: "/kb", technology: "docs", confined: false),
                       FolderRecord(path: "/kb/api", technology: "api", confined: true),
                       FolderRecord(path: "/other", technology: "other", confined: false)]
        var changes = FolderChanges()
        changes.note("/kb/guide.md", .file)
        changes.note("/kb/guide.md~", .file)  // an editor's backup: not a kind that is read
        changes.note("/kb/gone.md", .file)
        changes.note("/kb/new", .folder)
        changes.note("/kb/new/inside.md", .file)  // read with its folder
        changes.note("/kb/api/ref.md", .file)
        changes.note("/elsewhere/x.md", .file)  // no watched folder holds it
        let types: [String: mode_t] = ["/kb/guide.md": S_IFREG, "/kb/guide.md~": S_IFREG, "/kb/new": S_IFDIR,
                                       "/kb/new/inside.md": S_IFREG, "/kb/api/ref.md": S_IFREG, "/elsewhere/x.md": S_IFREG]
        let plan = FolderSyncPlan.make(changes, folders: folders) { types[$0] ?? 0 }
        #expect(plan.parts.map(\.folder.path) == ["/kb", "/kb/api"])
        #expect(plan.parts[0].ingest == ["/kb/new", "/kb/guide.md"])
        #expect(plan.parts[0].forgetFiles == ["/kb/gone.md"] && plan.parts[0].forgetFolders.isEmpty)
        #expect(plan.parts[0].excluded == ["/kb/api"])
        #expect(plan.parts[1].ingest == ["/kb/api/ref.md"] && plan.parts[1].forgetFiles.isEmpty && plan.parts[1].excluded.isEmpty)
        #expect(!plan.isEmpty)
    }

    @Test func watchedFoldersWhoseNamesAreOnlyCanonicallyEquivalentAreTwoFolders() {
        // "café" precomposed and decomposed: equal as Swift strings, two folders on disk.
        let composed = "/kb/caf\u{E9}", decomposed = "/kb/cafe\u{301}"
        let same = { (first: [String], second: [String]) in first.elementsEqual(second) { $0.utf8.elementsEqual($1.utf8) } }
        let type = { (path: String) -> mode_t in path.hasSuffix(".md") ? S_IFREG : S_IFDIR }
        let folders = [FolderRecord(path: "/kb", technology: "docs", confined: false),
                       FolderRecord(path: composed, technology: "composed", confined: false)]
        var changes = FolderChanges()
        changes.note(composed + "/a.md", .file)
        changes.note(decomposed + "/b.md", .file)
        let plan = FolderSyncPlan.make(changes, folders: folders, type: type)
        #expect(plan.parts.map(\.folder.technology) == ["docs", "composed"])
        // The decomposed folder is the outer one's, and its walk skips only the composed one.
        #expect(same(plan.parts[0].ingest, [decomposed + "/b.md"]) && same(plan.parts[1].ingest, [composed + "/a.md"]))
        #expect(plan.parts[0].excluded == [PathKey(composed)])

        // Both watched, each with its label; the outer folder read again skips both.
        var again = FolderChanges()
        again.note("/kb", .folder)
        let both = folders + [FolderRecord(path: decomposed, technology: "decomposed", confined: false)]
        let twoPlans = FolderSyncPlan.make(again, folders: both, type: type)
        #expect(twoPlans.parts.map(\.folder.technology) == ["docs", "decomposed", "composed"])
        #expect(twoPlans.parts[0].excluded == [PathKey(composed), PathKey(decomposed)])
        #expect(same(twoPlans.parts[1].ingest, [decomposed]) && same(twoPlans.parts[2].ingest, [composed]))
    }

    @Test func aFolderReadAgainReadsTheWatchedFoldersInsideItUnderTheirOwnLabels() {
        let folders = [FolderRecord(path: "/kb", technology: "docs", confined: false),
                       FolderRecord(path: "/kb/area/api", technology: "api", confined: false)]
        var changes = FolderChanges()
        changes.note("/kb", .folder)  // the catch-up at start, which names each root
        changes.note("/kb/area/api", .folder)
        let plan = FolderSyncPlan.make(changes, folders: folders) { _ in S_IFDIR }
        #expect(plan.parts.map(\.folder.path) == ["/kb", "/kb/area/api"])
        #expect(plan.parts[0].ingest == ["/kb"] && plan.parts[0].excluded == ["/kb/area/api"])
        #expect(plan.parts[1].ingest == ["/kb/area/api"])
    }

    @Test func aWatchedFolderGoneIsForgottenWhole() {
        let folders = [FolderRecord(path: "/kb", technology: "docs", confined: false)]
        var changes = FolderChanges()
        changes.note("/kb", .folder)
        changes.note("/kb/a.md", .file)
        let plan = FolderSyncPlan.make(changes, folders: folders) { _ in 0 }
        #expect(plan.parts.map(\.forgetFolders) == [["/kb"]] && plan.parts.map(\.forgetFiles) == [[]])
        var nothing = FolderChanges()
        nothing.note("/kb/socket", .file)
        #expect(FolderSyncPlan.make(nothing, folders: folders) { _ in S_IFSOCK }.isEmpty)
    }
}
