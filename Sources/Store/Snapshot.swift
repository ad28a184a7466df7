import Glibc

/// A consistent copy of one shard, made for a peer that needs the whole shard: a file written
/// with `VACUUM INTO` (disk) or a database image (memory). Made, read and discarded through
/// `ShardFiles` (`makeSnapshot`, `read`, `discard`), whose slow parts run off the loop.
public struct SnapshotSource: Sendable {
    public let shard: Int
    public let size: Int64

    enum Content: Sendable {
        case file(path: String)
        case image([UInt8])
    }
    let content: Content

    /// `length` bytes at `offset` (the range must lie inside the snapshot). Reads the file:
    /// slow, run it off the loop.
    func read(offset: Int64, length: Int) throws(StoreError) -> [UInt8] {
        guard offset >= 0, length >= 0, offset <= size, Int64(length) <= size - offset else {
            throw StoreError(code: -1, message: "snapshot of shard \(shard): no range \(offset)+\(length) in \(size) bytes")
        }
        switch content {
        case .image(let bytes):
            return Array(bytes[Int(offset)..<(Int(offset) + length)])
        case .file(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError.system("open \(path)") }
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: length)
            var done = 0
            while done < length {
                let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(offset) + off_t(done)) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw StoreError.system("read \(path)") }
                done += n
            }
            return bytes
        }
    }
}

/// A shard snapshot being received from a peer, chunk by chunk in order: a file in the data
/// folder (disk) or an image in memory. Begun, written, finished and installed through
/// `ShardFiles` (`beginSnapshot`, `write`, `finish`, `install`); dropped with `abandon`.
public struct SnapshotSink {
    public let shard: Int
    /// Bytes written so far: the next chunk's offset.
    public internal(set) var received: Int64 = 0

    enum Target {
        case file(path: String, fd: Int32)
        case image(ImageBuffer)
    }
    let target: Target
}

/// The bytes of a snapshot received into memory.
final class ImageBuffer {
    var bytes: [UInt8] = []
}

extension StoreError {
    /// A failed system call, with errno's text.
    static func system(_ what: String) -> StoreError {
        let code = errno
        return StoreError(code: code, message: "\(what): \(String(cString: strerror(code)))")
    }
}
