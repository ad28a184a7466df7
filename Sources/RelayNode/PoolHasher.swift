import Chat
import Net

/// Password hashing on the worker threads, so a login never stalls the event loop.
final class PoolHasher: PasswordHasher {
    let pool: WorkerPool
    let random: RandomSource

    init(pool: WorkerPool, random: RandomSource) {
        self.pool = pool
        self.random = random
    }

    func hash(_ password: String, done: @escaping (String?) -> Void) {
        let salt = random.bytes(16)
        if !pool.submit({ Yescrypt.hash(password, salt: salt) }, done: done) { done(nil) }
    }

    func verify(_ password: String, against hash: String, done: @escaping (Bool?) -> Void) {
        if !pool.submit({ Yescrypt.verify(password, against: hash) }, done: { done($0) }) { done(nil) }
    }
}
