import CSystem
import Glibc

/// Hashes and checks passwords. Slow on purpose, so a node runs it off the event loop.
/// `nil` means the work could not be done now (the workers are saturated): `unavailable`.
public protocol PasswordHasher: AnyObject {
    func hash(_ password: String, done: @escaping (String?) -> Void)
    func verify(_ password: String, against hash: String, done: @escaping (Bool?) -> Void)
}

/// yescrypt through the system's libcrypt (`$y$` settings), the default password hash of
/// Debian 11+. Thread-safe: `crypt_r` with per-call state.
public enum Yescrypt {
    /// 0 asks libxcrypt for its default yescrypt cost (5): measured here at about 16 MiB and
    /// 20 ms of CPU per hash (docs/BENCHMARKS.md, signups).
    public static let cost: UInt = 0

    /// A hash string with a fresh salt from `salt` (16 random bytes). `cost`: yescrypt's
    /// (1 to 11), or 0 for libcrypt's default; the cluster config's `password_hash_cost`.
    public static func hash(_ password: String, salt: [UInt8], cost: UInt = Yescrypt.cost) -> String? {
        var setting = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        let made = salt.withUnsafeBufferPointer { s in
            crypt_gensalt_rn("$y$", cost, s.baseAddress, Int32(s.count), &setting, Int32(setting.count))
        }
        guard made != nil else { return nil }
        return crypt(password, setting: setting)
    }

    public static func verify(_ password: String, against stored: String) -> Bool {
        guard stored.hasPrefix("$"), let again = crypt(password, setting: Array(stored.utf8CString)) else { return false }
        let a = Array(again.utf8), b = Array(stored.utf8)
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    private static func crypt(_ password: String, setting: [CChar]) -> String? {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let out = crypt_r(password, setting, data) else { return nil }
        let text = String(cString: out)
        return text.hasPrefix("*") ? nil : text   // libcrypt's failure token
    }
}

/// Runs the hash inline: for tests only (a node uses a worker pool).
public final class InlineYescryptHasher: PasswordHasher {
    let random: RandomSource
    public init(random: RandomSource) { self.random = random }
    public func hash(_ password: String, done: @escaping (String?) -> Void) {
        done(Yescrypt.hash(password, salt: random.bytes(16)))
    }
    public func verify(_ password: String, against hash: String, done: @escaping (Bool?) -> Void) {
        done(Yescrypt.verify(password, against: hash))
    }
}
