import Hashing
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

/// A repeatable source for tests and simulation: `SplitMix64` behind the node's interface.
public final class SeededRandom: RandomSource {
    private var generator: SplitMix64
    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    public func next() -> UInt64 { generator.next() }
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
