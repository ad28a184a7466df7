import CSystem
import Glibc

/// Process signals, delivered on the loop instead of in a signal handler.
public enum Signals {
    /// Writes to a closed socket return EPIPE instead of killing the process. (Net's own
    /// sends pass MSG_NOSIGNAL; this covers every other write, e.g. to pipes.)
    public static func ignoreSIGPIPE() {
        _ = signal(SIGPIPE, SIG_IGN)
    }

    /// Runs `fn` on `loop`'s thread when SIGTERM or SIGINT arrives (the self-pipe trick: the
    /// handler only writes to an eventfd the loop watches, which is async-signal-safe).
    /// Call once per process, at startup. The eventfd lives as long as the process, so a
    /// late signal never writes into a reused fd number.
    public static func onTerminate(loop: EventLoop, _ fn: @escaping () -> Void) {
        let fd = terminateEventFD
        guard fd >= 0 else { return }
        let watcher = TerminateWatcher(fd: fd, onSignal: fn)
        do {
            _ = try loop.register(fd: fd, events: EpollBits.readable, handler: watcher)
        } catch {
            return
        }
        signalWakeFD = fd
        _ = signal(SIGTERM, handleTerminate)
        _ = signal(SIGINT, handleTerminate)
    }

    /// Created once, on first use (never in the handler), and never closed.
    private static let terminateEventFD: Int32 = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
}

/// Read by the signal handler; written once before the handler is installed.
nonisolated(unsafe) private var signalWakeFD: Int32 = -1

private func handleTerminate(_ signal: Int32) {
    let savedErrno = errno
    var one: UInt64 = 1
    _ = write(signalWakeFD, &one, MemoryLayout<UInt64>.size)
    errno = savedErrno
}

private final class TerminateWatcher: LoopHandler {
    private let fd: Int32
    private let onSignal: () -> Void

    init(fd: Int32, onSignal: @escaping () -> Void) {
        self.fd = fd
        self.onSignal = onSignal
    }

    /// The eventfd is process-wide and never closed; the loop just forgets the watcher.
    func closeForShutdown() {}

    func handle(events: UInt32) {
        var counter: UInt64 = 0
        guard read(fd, &counter, MemoryLayout<UInt64>.size) == MemoryLayout<UInt64>.size else { return }
        onSignal()
    }
}
