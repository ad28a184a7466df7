import CSystem
import Glibc

/// Where unguessable bytes come from: the kernel in a node, a seeded generator in tests.
public protocol RandomSource: AnyObject {
    func bytes(_ count: Int) -> [UInt8]
}

/// getrandom(2): blocks only before the kernel's pool is first initialised at boot.
public final class SystemRandom: RandomSource {
    public init() {}
    public func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = out.withUnsafeMutableBytes { getrandom($0.baseAddress! + filled, count - filled, 0) }
            if n > 0 { filled += n } else if errno != EINTR { fatalError("getrandom failed: errno \(errno)") }
        }
        return out
    }
}

/// SplitMix64: a repeatable source for tests and simulation.
public final class SeededRandom: RandomSource {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count {
            var v = next()
            for _ in 0..<8 { out.append(UInt8(truncatingIfNeeded: v)); v >>= 8 }
        }
        return Array(out.prefix(count))
    }
}
