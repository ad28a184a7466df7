import Glibc

/// CLOCK_MONOTONIC in microseconds. The event loop's clock has millisecond resolution, too
/// coarse for loopback latencies of tens of microseconds.
enum MonotonicClock {
    static func nowMicros() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec) / 1_000
    }
}
