import CSystem
import Glibc

/// The bytes a connection could not write yet: a FIFO of the caller's arrays (no copy), the
/// first partly written. Flushed with one `sendmsg` per batch of chunks (writev with
/// MSG_NOSIGNAL, so a closed peer gives EPIPE instead of killing the process).
/// Unbounded by design: the owner reads `byteCount` and decides when a peer is too slow.
struct WriteQueue {
    /// Chunks gathered per sendmsg. Linux allows 1,024 (IOV_MAX); 64 already fills a socket
    /// send buffer with typical frame sizes while keeping the stack-allocated iovec small.
    static let maxChunksPerSend = 64

    enum FlushOutcome: Equatable {
        case drained
        case wouldBlock
        case failed(errno: Int32)
    }

    private var chunks: [[UInt8]] = []
    private var head = 0
    private var headOffset = 0
    private(set) var byteCount = 0

    var isEmpty: Bool { byteCount == 0 }

    /// Queues `bytes[skipping...]`.
    mutating func append(_ bytes: [UInt8], skipping: Int = 0) {
        guard skipping < bytes.count else { return }
        if head == chunks.count { headOffset = skipping } else { precondition(skipping == 0, "only the first chunk may be partial") }
        chunks.append(bytes)
        byteCount += bytes.count - skipping
    }

    mutating func removeAll() {
        chunks.removeAll()
        head = 0
        headOffset = 0
        byteCount = 0
    }

    /// Writes until the queue is empty or the socket would block.
    mutating func flush(to fd: Int32) -> FlushOutcome {
        while !isEmpty {
            let written = sendBatch(fd)
            if written < 0 {
                let code = Glibc.errno
                if code == EINTR { continue }
                return SocketCalls.isWouldBlock(code) ? .wouldBlock : .failed(errno: code)
            }
            consume(written)
        }
        return .drained
    }

    private func sendBatch(_ fd: Int32) -> Int {
        let count = min(Self.maxChunksPerSend, chunks.count - head)
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { vectors in
            gather(0, into: vectors) {
                var message = msghdr()
                message.msg_iov = vectors.baseAddress
                message.msg_iovlen = vectors.count
                return sendmsg(fd, &message, SocketCalls.noSignal)
            }
        }
    }

    /// Pins chunk `index...` in memory (nested `withUnsafeBytes`) while `send` runs.
    private func gather(_ index: Int, into vectors: UnsafeMutableBufferPointer<iovec>, _ send: () -> Int) -> Int {
        guard index < vectors.count else { return send() }
        return chunks[head + index].withUnsafeBytes { raw in
            let skip = index == 0 ? headOffset : 0
            vectors[index] = iovec(
                iov_base: raw.baseAddress.map { UnsafeMutableRawPointer(mutating: $0 + skip) },
                iov_len: raw.count - skip)
            return gather(index + 1, into: vectors, send)
        }
    }

    private mutating func consume(_ written: Int) {
        var remaining = written
        byteCount -= written
        while remaining > 0, head < chunks.count {
            let available = chunks[head].count - headOffset
            if remaining < available {
                headOffset += remaining
                return
            }
            remaining -= available
            chunks[head] = []
            head += 1
            headOffset = 0
        }
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= Self.maxChunksPerSend, head * 2 >= chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }
}
