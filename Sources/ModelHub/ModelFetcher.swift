import Digests
import Embeddings
import Foundation
import HTTPClient

/// How far a fetch has come, for a progress line.
public struct FetchProgress: Sendable {
    /// The file being downloaded, its number (from 1) and the count of files to fetch.
    public let file: String
    public let index: Int
    public let count: Int
    /// Bytes of it on disk so far, and its size.
    public let bytes: Int64
    public let total: Int64
}

/// What a fetch left in the cache.
public struct FetchedModel: Sendable {
    public let repository: String
    public let revision: String
    /// The commit the revision resolved to: the snapshot's folder name.
    public let commit: String
    /// `snapshots/<commit>`, the folder mcp-rag loads.
    public let folder: URL
    public let fileCount: Int
    /// The files' total size, and how much of it this run downloaded (the rest was in the cache).
    public let byteCount: Int64
    public let downloadedBytes: Int64
}

/// Downloads a model repository from the Hugging Face Hub into the Hugging Face cache, in the
/// layout huggingface_hub writes and reads (so either tool finds what the other fetched):
/// `models--owner--name/blobs/<checksum>` holds each file once, `snapshots/<commit>/<path>` links
/// to it, and `refs/<revision>` names the commit.
///
/// Only the files mcp-rag needs are fetched (`ModelFileSelection`). Every file is checked against
/// the checksum the Hub lists (SHA-256 for LFS files, the git blob id for the others) before it
/// enters the cache; a download that breaks off stays as `<blob>.incomplete` and the next fetch
/// asks for the rest (`Range`). Two fetches of one repository at once: the second is refused.
public struct ModelFetcher: Sendable {
    public let settings: HubSettings

    public init(settings: HubSettings) {
        self.settings = settings
    }

    public func fetch(repository: String, revision: String = "main",
                      progress: @escaping @Sendable (FetchProgress) -> Void = { _ in }) throws(ModelFetchError) -> FetchedModel {
        guard ModelLocator.isRepositoryName(repository) else {
            throw ModelFetchError("\(repository.debugDescription) is not a Hugging Face repository name: write it as "
                + "owner/name (e.g. BAAI/bge-small-en-v1.5), with letters, digits and . _ - only")
        }
        guard Self.isRevisionName(revision) else {
            throw ModelFetchError("\(revision.debugDescription) is not a revision: give a branch, a tag or a commit")
        }
        let repositoryFolder = settings.locator.hubFolder(of: repository)
        let lock = try FileLock(hubDirectory: settings.locator.hubDirectory, repositoryFolder: repositoryFolder,
                                name: "mcp-rag-fetch.lock", busy: "another fetch of \(repository) is under way")
        defer { lock.release() }
        let connection: HTTPConnection
        do {
            connection = try HTTPConnection(connectTimeout: .seconds(20), totalTimeout: .seconds(60))
        } catch {
            throw ModelFetchError(error.description)
        }

        let listing = try self.listing(of: repository, revision: revision, connection: connection)
        let files = listing.siblings.filter { ModelFileSelection.isNeeded($0.rfilename) }
        guard files.contains(where: { $0.rfilename == ModelFileSelection.weights }) else {
            throw ModelFetchError("\(repository) has no \(ModelFileSelection.weights) at \(revision): mcp-rag reads "
                + "safetensors weights only (PyTorch .bin, ONNX and sharded weights are not read)")
        }
        let snapshot = repositoryFolder.appendingPathComponent("snapshots").appendingPathComponent(listing.sha)
        var downloaded: Int64 = 0
        var total: Int64 = 0
        var blobs: [(file: HubFile, blob: URL)] = []
        for (number, file) in files.enumerated() {
            guard let checksum = file.checksum, checksum.isWellFormed else {
                throw ModelFetchError("the Hub lists no usable checksum for \(file.rfilename) of \(repository); "
                    + "nothing unchecked is put in the cache")
            }
            let blob = repositoryFolder.appendingPathComponent("blobs").appendingPathComponent(checksum.blobName)
            let blobLock = try FileLock(hubDirectory: settings.locator.hubDirectory, repositoryFolder: repositoryFolder,
                                        name: checksum.blobName + ".lock",
                                        busy: "another download of \(file.rfilename) of \(repository) is under way")
            defer { blobLock.release() }
            let fetched = try ensureBlob(blob, of: file, checksum: checksum, repository: repository, commit: listing.sha,
                                         connection: connection) { bytes in
                progress(FetchProgress(file: file.rfilename, index: number + 1, count: files.count, bytes: bytes,
                                       total: file.byteCount ?? bytes))
            }
            downloaded += fetched
            total += file.byteCount ?? 0
            blobs.append((file, blob))
        }
        // Linked once every file is in and checked: a snapshot never holds some files without the rest.
        for (file, blob) in blobs {
            try link(snapshot.appendingPathComponent(file.rfilename), to: blob, depth: file.rfilename.split(separator: "/").count)
        }
        if revision != listing.sha {
            try write(listing.sha, to: repositoryFolder.appendingPathComponent("refs").appendingPathComponent(revision))
        }
        return FetchedModel(repository: repository, revision: revision, commit: listing.sha, folder: snapshot,
                            fileCount: files.count, byteCount: total, downloadedBytes: downloaded)
    }

    /// A branch, tag or commit as git allows them, without anything that steps out of `refs/`.
    static func isRevisionName(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return !text.isEmpty && text.utf8.count <= 200 && parts.allSatisfy { part in
            !part.isEmpty && !part.hasPrefix(".") && !part.contains("..")
                && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        }
    }

    // MARK: - The Hub's answers

    private func listing(of repository: String, revision: String, connection: HTTPConnection) throws(ModelFetchError) -> HubListing {
        let url = "\(settings.endpoint)/api/models/\(repository)/revision/\(Self.escape(revision))?blobs=true"
        let response: HTTPResponse
        do {
            response = try connection.send(HTTPRequest(method: .get, url: url, headers: settings.headers))
        } catch {
            throw ModelFetchError("cannot reach the Hub: \(error.description)")
        }
        guard response.status == 200 else {
            throw refusal(status: response.status, body: response.body, what: "\(repository) at \(revision)")
        }
        let listing: HubListing
        do {
            listing = try JSONDecoder().decode(HubListing.self, from: response.body)
        } catch {
            throw ModelFetchError("\(settings.endpoint) answered the listing of \(repository) with something that is not "
                + "the Hub's model listing (is HF_ENDPOINT a Hugging Face Hub?)")
        }
        guard FileChecksum.gitBlob(listing.sha.lowercased()).isWellFormed, listing.sha == listing.sha.lowercased() else {
            throw ModelFetchError("the Hub named the commit of \(repository) at \(revision) \(listing.sha.debugDescription), "
                + "which is not a commit id")
        }
        return listing
    }

    /// The error for an answer that is not the file or listing asked for, with what to do about it.
    private func refusal(status: Int, body: Data, what: String) -> ModelFetchError {
        let detail = Self.message(in: body).map { ": \($0)" } ?? ""
        switch status {
        case 401, 403:
            let advice = settings.token == nil
                ? "if it is private or gated, set HF_TOKEN to a token that may read it"
                : "the token in use (HF_TOKEN or the token file) may not read it"
            return ModelFetchError("the Hub refused \(what) (HTTP \(status))\(detail); \(advice)")
        case 404:
            return ModelFetchError("the Hub has no \(what) (HTTP 404)\(detail); check the repository's name and the revision")
        default:
            return ModelFetchError("the Hub answered HTTP \(status) for \(what)\(detail)")
        }
    }

    /// The `error` field of the Hub's JSON error answers, or a short plain-text body.
    private static func message(in body: Data) -> String? {
        if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let error = object["error"] as? String {
            return String(error.prefix(300))
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty || text.hasPrefix("<") ? nil : text
    }

    // MARK: - Blobs

    /// Makes sure `blob` holds `file`'s checked content, downloading what is missing; returns the
    /// bytes downloaded.
    private func ensureBlob(_ blob: URL, of file: HubFile, checksum: FileChecksum, repository: String, commit: String,
                            connection: HTTPConnection, progress: @escaping (Int64) -> Void) throws(ModelFetchError) -> Int64 {
        let manager = FileManager.default
        if manager.fileExists(atPath: blob.path) {
            if Self.matches(blob, checksum, size: file.byteCount) { return 0 }
            // A blob that does not match its name was damaged on disk: fetched again.
            try? manager.removeItem(at: blob)
        }
        do {
            try manager.createDirectory(at: blob.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw ModelFetchError("cannot create \(blob.deletingLastPathComponent().path): \(error.localizedDescription)")
        }
        let partial = blob.appendingPathExtension("incomplete")
        if let expected = file.byteCount, let held = Self.size(of: partial), held >= expected,
           !Self.matches(partial, checksum, size: expected) {
            // More bytes than the file has, or all of them but wrong: start over.
            try? manager.removeItem(at: partial)
        }
        var received: Int64 = 0
        if file.byteCount == 0 && !manager.fileExists(atPath: partial.path) {
            _ = manager.createFile(atPath: partial.path, contents: nil)
        } else if file.byteCount.map({ (Self.size(of: partial) ?? 0) < $0 }) ?? true {
            let url = "\(settings.endpoint)/\(repository)/resolve/\(commit)/\(Self.escapePath(file.rfilename))"
            received = try download(url, to: partial, what: "\(file.rfilename) of \(repository)", connection: connection,
                                    progress: progress)
        }
        if let mismatch = try Self.verify(partial, against: checksum, size: file.byteCount) {
            try? manager.removeItem(at: partial)
            throw ModelFetchError("\(file.rfilename) of \(repository) does not match the Hub's checksum (\(mismatch)); "
                + "the download was removed. Run the fetch again; if it fails the same way, the Hub or a proxy is serving "
                + "a damaged file")
        }
        do {
            try manager.moveItem(at: partial, to: blob)
        } catch {
            // Put there meanwhile by another tool (huggingface_hub) and right: as good as ours.
            guard Self.matches(blob, checksum, size: file.byteCount) else {
                throw ModelFetchError("cannot move \(partial.path) into place: \(error.localizedDescription)")
            }
            try? manager.removeItem(at: partial)
        }
        return received
    }

    /// Downloads (or resumes) `url` into `partial`; returns the bytes received.
    private func download(_ url: String, to partial: URL, what: String, connection: HTTPConnection,
                          progress: @escaping (Int64) -> Void) throws(ModelFetchError) -> Int64 {
        // One retry from the start when the server cannot serve the range asked for (416): what is
        // on disk does not belong to this file.
        for attempt in 0..<2 {
            let outcome: DownloadOutcome
            do {
                outcome = try connection.download(HTTPRequest(method: .get, url: url, headers: settings.headers),
                                                  to: partial, progress: progress)
            } catch where error.isTransient {
                throw ModelFetchError("the download of \(what) broke off (\(error.description)); \(Self.size(of: partial) ?? 0) "
                    + "bytes are kept, and the same command resumes from there")
            } catch {
                throw ModelFetchError("the download of \(what) failed: \(error.description)")
            }
            switch outcome.status {
            case 200, 206:
                return outcome.receivedBytes
            case 416 where attempt == 0:
                try? FileManager.default.removeItem(at: partial)
            default:
                throw refusal(status: outcome.status, body: outcome.errorBody, what: what)
            }
        }
        throw ModelFetchError("the Hub could not serve \(what) from its start (HTTP 416 twice)")
    }

    /// Whether `file` has the size and checksum listed (false when it cannot be read).
    static func matches(_ file: URL, _ checksum: FileChecksum, size: Int64?) -> Bool {
        do {
            return try verify(file, against: checksum, size: size) == nil
        } catch {
            return false
        }
    }

    /// nil when `file` matches; otherwise what differs.
    static func verify(_ file: URL, against checksum: FileChecksum, size: Int64?) throws(ModelFetchError) -> String? {
        if let size, let actual = Self.size(of: file), actual != size {
            return "\(actual) bytes, the Hub lists \(size)"
        }
        let actual: String
        do {
            switch checksum {
            case .sha256:
                actual = try sha256(of: file)
            case .gitBlob:
                let content = try Data(contentsOf: file)
                actual = SHA1.hex(Array("blob \(content.count)\0".utf8) + content)
            }
        } catch {
            throw ModelFetchError("cannot read \(file.path): \(error.localizedDescription)")
        }
        return actual == checksum.blobName ? nil : "its digest is \(actual), the Hub lists \(checksum.blobName)"
    }

    private static func sha256(of file: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return SHA256.hex(hasher.finalize())
    }

    private static func size(of file: URL) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.int64Value
    }

    // MARK: - The snapshot

    /// `path` becomes a relative link to `blob` (`../../blobs/<name>`, one more `../` per folder
    /// in the file's path), as huggingface_hub makes them, replacing what was there.
    private func link(_ path: URL, to blob: URL, depth: Int) throws(ModelFetchError) {
        let manager = FileManager.default
        let target = String(repeating: "../", count: depth + 1) + "blobs/" + blob.lastPathComponent
        do {
            try manager.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
            if (try? manager.destinationOfSymbolicLink(atPath: path.path)) == target { return }
            if (try? manager.attributesOfItem(atPath: path.path)) != nil { try manager.removeItem(at: path) }
            try manager.createSymbolicLink(atPath: path.path, withDestinationPath: target)
        } catch {
            throw ModelFetchError("cannot link \(path.path) to its blob: \(error.localizedDescription)")
        }
    }

    private func write(_ commit: String, to reference: URL) throws(ModelFetchError) {
        do {
            try FileManager.default.createDirectory(at: reference.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(commit.utf8).write(to: reference, options: .atomic)
        } catch {
            throw ModelFetchError("cannot write \(reference.path): \(error.localizedDescription)")
        }
    }

    // MARK: - URLs

    private static let unreserved = CharacterSet(charactersIn:
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `text` percent-encoded as one path segment (a `/` in a revision included).
    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// A repository path percent-encoded segment by segment.
    static func escapePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { escape(String($0)) }.joined(separator: "/")
    }
}

/// An exclusive lock (`flock`) on a file in the cache's `.locks/models--owner--name/`, where
/// huggingface_hub keeps its own: one on the repository, so two fetches of it never run at once,
/// and one per blob, named as huggingface_hub names it (`<checksum>.lock`), so that neither tool
/// appends to the other's `.incomplete` file. Not waited for: when held, `busy` is the error. The
/// system drops a lock when the process ends, however it ends.
final class FileLock {
    private var descriptor: Int32

    init(hubDirectory: URL, repositoryFolder: URL, name: String, busy: String) throws(ModelFetchError) {
        let folder = hubDirectory.appendingPathComponent(".locks").appendingPathComponent(repositoryFolder.lastPathComponent)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw ModelFetchError("cannot create \(folder.path): \(error.localizedDescription)")
        }
        let path = folder.appendingPathComponent(name).path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ModelFetchError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ModelFetchError("\(busy) (it holds \(path)); wait for it to finish")
        }
        self.descriptor = descriptor
    }

    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
