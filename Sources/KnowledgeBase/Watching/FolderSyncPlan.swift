import BytePaths
import FolderWatch
import Foundation
import SQLiteLedger

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one batch of folder changes asks of the knowledge base, per watched folder: the paths to
/// read (files written, folders created or moved in) and the paths to forget (gone).
///
/// A path belongs to the deepest watched folder holding it, whose label it takes; that folder's
/// reading does not enter the watched folders inside it, which have labels of their own.
struct FolderSyncPlan: Equatable {
    struct Part: Equatable {
        let folder: FolderRecord
        /// Files and folders to ingest, in the order the batch gave them.
        var ingest: [String] = []
        /// Files gone: the source of that name.
        var forgetFiles: [String] = []
        /// Folders gone: every source under them.
        var forgetFolders: [String] = []
        /// Watched folders inside this one.
        var excluded: Set<PathKey> = []
    }

    var parts: [Part] = []

    var isEmpty: Bool { parts.allSatisfy { $0.ingest.isEmpty && $0.forgetFiles.isEmpty && $0.forgetFolders.isEmpty } }

    /// The plan for `changes` under `folders`, looking at each path's type now (`type` gives
    /// `stat`'s file-type bits, 0 when the path is gone). Files of kinds the knowledge base does
    /// not read are left out here: an editor's swap and backup files would each be a warning.
    static func make(_ changes: FolderChanges, folders: [FolderRecord],
                     type: (String) -> mode_t = FileWalker.type(of:)) -> FolderSyncPlan {
        // Deepest first, so the first holder found is the owner.
        let owners = folders.sorted { $0.path.utf8.count > $1.path.utf8.count }
        var parts: [PathKey: Part] = [:]
        func part(of owner: FolderRecord) -> Part {
            parts[PathKey(owner.path)] ?? Part(folder: owner, excluded: Set(folders.map(\.path).filter {
                !PathBytes.same($0, owner.path) && PathBytes.isInside($0, owner.path)
            }.map { PathKey($0) }))
        }
        let (changedFolders, changedFiles) = changes.reduced()
        for path in changedFolders + changedFiles {
            guard let owner = owners.first(where: { PathBytes.isInside(path, $0.path) }) else { continue }
            var ownersPart = part(of: owner)
            switch type(path) {
            case S_IFDIR:
                ownersPart.ingest.append(path)
                // The watched folders inside it changed with it; each is read under its own label.
                for inner in folders where !PathBytes.same(inner.path, owner.path) && !PathBytes.same(inner.path, path)
                    && PathBytes.isInside(inner.path, path) && type(inner.path) == S_IFDIR {
                    var innerPart = part(of: inner)
                    innerPart.ingest.append(inner.path)
                    parts[PathKey(inner.path)] = innerPart
                }
            case S_IFREG:
                if DocumentKind(url: URL(fileURLWithPath: path)) != nil { ownersPart.ingest.append(path) }
            case 0:
                if changes.kind(of: path) == .folder { ownersPart.forgetFolders.append(path) } else { ownersPart.forgetFiles.append(path) }
            default:
                break
            }
            parts[PathKey(owner.path)] = ownersPart
        }
        return FolderSyncPlan(parts: parts.values.sorted { $0.folder.path.utf8.lexicographicallyPrecedes($1.folder.path.utf8) })
    }
}
