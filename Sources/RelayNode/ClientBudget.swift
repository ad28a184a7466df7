import Net

/// Fair shares of each loop turn for client work. Every HTTP request and WebSocket frame a
/// client sends is admitted here before it is handled; a connection over its share waits for
/// a later turn (reading paused, its bytes left in its parser), in the order it ran out. So a
/// client that pipelines thousands of requests costs the loop at most its share per turn, and
/// the other clients, the peers and the timers get theirs every few milliseconds.
///
/// The first request of a turn is always admitted, so a turn always makes progress; a single
/// request that is expensive by itself is bounded by caching it (`HTTPAPI`), not here.
final class ClientBudget {
    /// Requests (HTTP) or frames (WebSocket) one connection may start per loop turn: 16 keeps
    /// a pipelining client's batch large enough to amortise the turn (one group commit for 16
    /// sends) while a turn serves many connections.
    static let maxRequestsPerConnectionPerTurn = 16
    /// Client work per loop turn, across connections: 4 ms. Past it every connection waits for
    /// the next turn, which starts at once (a zero-delay timer), after the sockets and timers
    /// that were ready meanwhile. A peer, a timer or another client is then delayed by at most
    /// about this much plus one request.
    static let maxWorkNanosPerTurn: UInt64 = 4_000_000

    /// What the budget needs of a connection: its per-turn count and a way to resume it.
    final class Account {
        fileprivate var turn: UInt64 = .max
        fileprivate var used = 0
        /// Waiting in the queue for a later turn.
        fileprivate(set) var isWaiting = false
        let resume: () -> Void
        init(resume: @escaping () -> Void) { self.resume = resume }
    }

    private let loop: EventLoop
    private var turn: UInt64 = .max
    private var turnStartNanos: UInt64 = 0
    private var waiting: [Account] = []
    private var resumeArmed = false
    /// The turn in which the resume timer was armed: it must run in a later one.
    private var armedInTurn: UInt64 = 0
    /// Times a connection had to wait for a later turn (for /metrics).
    private(set) var deferrals = 0

    init(loop: EventLoop) { self.loop = loop }

    /// Whether the connection may start one more request in this turn; if not, it is queued
    /// and its `resume` runs in a later turn. Call `spend` once the request was taken.
    func hasRoom(_ account: Account) -> Bool {
        let now = loop.turn
        if account.turn != now {
            account.turn = now
            account.used = 0
        }
        if turn != now {
            // The turn's first request: always admitted, so every turn makes progress.
            turn = now
            turnStartNanos = loop.monotonicNanos
            return true
        }
        guard account.used < Self.maxRequestsPerConnectionPerTurn,
              loop.monotonicNanos &- turnStartNanos <= Self.maxWorkNanosPerTurn else {
            wait(account)
            return false
        }
        return true
    }

    func spend(_ account: Account) { account.used += 1 }

    /// A closed connection leaves the queue (its `resume` would find it closed anyway).
    func forget(_ account: Account) {
        guard account.isWaiting else { return }
        account.isWaiting = false
        waiting.removeAll { $0 === account }
    }

    private func wait(_ account: Account) {
        guard !account.isWaiting else { return }
        account.isWaiting = true
        deferrals += 1
        waiting.append(account)
        guard !resumeArmed else { return }
        resumeArmed = true
        armedInTurn = loop.turn
        loop.schedule(afterMs: 0) { [weak self] in self?.resumeWaiting() }
    }

    /// A new turn: the connections that ran out go on, oldest first; those that run out
    /// again queue for the turn after.
    private func resumeWaiting() {
        // A zero-delay timer armed during a turn's socket phase fires in that same turn's
        // timer phase, where the budget is still spent: go round once more.
        if loop.turn == armedInTurn {
            loop.schedule(afterMs: 0) { [weak self] in self?.resumeWaiting() }
            return
        }
        resumeArmed = false
        let due = waiting
        waiting.removeAll(keepingCapacity: true)
        for account in due where account.isWaiting {
            account.isWaiting = false
            account.resume()
        }
    }
}
