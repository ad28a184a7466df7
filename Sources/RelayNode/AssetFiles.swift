import Foundation
import Glibc
import Hashing

/// Asset files on this node's disk (docs/ASSETS.md): `<data>/assets/<sha256 hex>`, named by
/// their content, so two uploads of the same bytes share a file; a file being written is a
/// temporary in `<data>/assets/tmp` until its hash is checked and it is synced, then renamed
/// into place (a reader never sees half a file, and a crash leaves only a temporary).
final class AssetFiles {
    let directory: String
    let temporaryDirectory: String
    private var nextTemporary: UInt64 = 0
    private let random: [UInt8]

    init(dataDirectory: String, random: [UInt8]) throws {
        directory = dataDirectory + "/assets"
        temporaryDirectory = directory + "/tmp"
        self.random = random
        try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        // Temporaries of an earlier run are never finished.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporaryDirectory)) ?? [] {
            unlink(temporaryDirectory + "/" + name)
        }
    }

    func path(_ sha256: String) -> String { directory + "/" + sha256 }

    static func isValidName(_ sha256: String) -> Bool {
        sha256.utf8.count == 64 && sha256.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// The file is here, whole (its size is the asset's).
    func has(_ sha256: String, size: Int64) -> Bool {
        guard Self.isValidName(sha256) else { return false }
        var st = stat()
        return stat(path(sha256), &st) == 0 && Int64(st.st_size) == size
    }

    /// A new temporary file, open for writing.
    func createTemporary() -> AssetWriter? {
        nextTemporary += 1
        let name = temporaryDirectory + "/" + Hex.encode(random) + "-\(getpid())-\(nextTemporary)"
        let fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        return AssetWriter(fd: fd, path: name)
    }

    /// Up to `length` bytes at `offset` of a stored file (nil: not here or unreadable).
    func read(_ sha256: String, offset: Int64, length: Int) -> [UInt8]? {
        guard Self.isValidName(sha256), length >= 0 else { return nil }
        let fd = open(path(sha256), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(offset) + off_t(done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        if done < length { out.removeLast(length - done) }
        return out
    }

    func remove(_ sha256: String) {
        guard Self.isValidName(sha256) else { return }
        unlink(path(sha256))
    }

    /// Stored files and their age in seconds (for collection).
    func storedFiles(now: Date = Date()) -> [(sha256: String, ageS: Double)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter(Self.isValidName).compactMap { name in
            var st = stat()
            guard stat(path(name), &st) == 0 else { return nil }
            return (name, now.timeIntervalSince1970 - Double(st.st_mtim.tv_sec))
        }
    }
}

/// One file being written: bytes appended in order and hashed as they go; `finish` (on a
/// worker: fsync takes milliseconds to seconds) checks, syncs and renames it into place.
final class AssetWriter: @unchecked Sendable {
    let fd: Int32
    let path: String
    private(set) var hasher = SHA256Stream()
    private(set) var written: Int64 = 0
    private(set) var failed = false

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Appends (on the loop: a write to the page cache, tens of microseconds per piece).
    func append(_ bytes: [UInt8]) {
        guard !failed, finished == nil else { failed = true; return }
        hasher.update(bytes)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { failed = true; return }
            done += n
        }
        written += Int64(bytes.count)
    }

    /// The digest of what was appended, once everything is (later appends are refused).
    func digest() -> String {
        if let finished { return finished }
        let hex = Hex.encode(hasher.finish())
        finished = hex
        return hex
    }
    private var finished: String?

    /// Syncs and renames the file to `destination` (an existing one with these contents is
    /// kept and the temporary dropped). Blocking: run it on a worker.
    func install(at destination: String) -> Bool {
        defer { close(fd) }
        guard !failed, fsync(fd) == 0 else { unlink(path); return false }
        var st = stat()
        if stat(destination, &st) == 0, Int64(st.st_size) == written {
            unlink(path)
            return true
        }
        guard rename(path, destination) == 0 else { unlink(path); return false }
        // The rename itself is durable once the folder is synced.
        let folder = open((destination as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 { fsync(folder); close(folder) }
        return true
    }

    /// Drops the temporary (an aborted upload or transfer).
    func discard() {
        close(fd)
        unlink(path)
    }
}
