import Chat
import Net

/// Password hashing on the worker threads, so a login never stalls the event loop.
final class PoolHasher: PasswordHasher {
    let pool: WorkerPool
    let random: RandomSource
    /// yescrypt's cost for new hashes (the cluster config's `password_hash_cost`).
    let cost: UInt

    init(pool: WorkerPool, random: RandomSource, cost: UInt = Yescrypt.cost) {
        self.pool = pool
        self.random = random
        self.cost = cost
    }

    func hash(_ password: String, done: @escaping (String?) -> Void) {
        let salt = random.bytes(16), cost = cost
        if !pool.submit({ Yescrypt.hash(password, salt: salt, cost: cost) }, done: done) { done(nil) }
    }

    func verify(_ password: String, against hash: String, done: @escaping (Bool?) -> Void) {
        if !pool.submit({ Yescrypt.verify(password, against: hash) }, done: { done($0) }) { done(nil) }
    }
}
