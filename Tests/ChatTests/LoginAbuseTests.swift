import XCTest
@testable import Chat
import Ring

/// Counts the hashes it is asked for, so a test can tell a throttled login cost none.
final class CountingHasher: PasswordHasher {
    let inner: PasswordHasher
    var verifications = 0
    init(_ inner: PasswordHasher) { self.inner = inner }
    func hash(_ password: String, done: @escaping (String?) -> Void) { inner.hash(password, done: done) }
    func verify(_ password: String, against hash: String, done: @escaping (Bool?) -> Void) {
        verifications += 1
        inner.verify(password, against: hash, done: done)
    }
}

/// Issue 8 at the chat service: NUL in passwords, and login throttling wired around the hash.
final class LoginAbuseTests: XCTestCase {
    let home = "192.0.2.1"

    func login(_ h: ChatHarness, _ user: String, _ password: String, from source: String? = nil) -> Result<ChatService.Grant, ChatError> {
        h.wait { h.chat.login(user: user, password: password, device: "d", source: source ?? home, reply: $0) }
    }

    func failure(_ result: Result<ChatService.Grant, ChatError>) -> ChatError? {
        if case .failure(let error) = result { return error }
        return nil
    }

    /// An account as a node before the fix stored it: libcrypt saw the password only up to its
    /// first NUL, so the hash is of that prefix.
    func storeAccountHashedBeforeTheFix(_ h: ChatHarness, _ user: String, effectivePassword: String) throws {
        let hash = try XCTUnwrap(Yescrypt.hash(effectivePassword, salt: Array(repeating: 7, count: 16)))
        let session = NewSession(user: user, device: "d", tokenHash: Array(repeating: 1, count: 32), expiresAt: h.now + 1_000)
        _ = try h.wait { h.chat.router.call(CreateUser(user: user, passwordHash: hash, displayName: user, session: session), reply: $0) }.get()
    }

    func testSignupWithANULInThePasswordIsRefusedAndCreatesNothing() throws {
        let h = try ChatHarness()
        let refused = h.wait { h.chat.signup(user: "alice", password: "password\u{0}secret", displayName: nil, device: "d", reply: $0) }
        XCTAssertEqual(failure(refused), .badRequest(ChatService.nulMessage))
        XCTAssertEqual(failure(h.wait { h.chat.signup(user: "alice", password: "\u{0}abcdefg", displayName: nil, device: "d", reply: $0) })?.code, .badRequest)
        _ = try h.signup("alice")  // the id is still free
    }

    func testLoginWithANULIsRefusedBeforeAnythingIsHashedOrCounted() throws {
        let h = try ChatHarness()
        _ = try h.signup("alice")
        for password in ["password-alice\u{0}", "password-alice\u{0}anything", "\u{0}", "\u{0}abcdefgh"] {
            XCTAssertEqual(failure(login(h, "alice", password)), .badRequest(ChatService.nulMessage), password.debugDescription)
        }
        XCTAssertEqual(h.chat.loginThrottle.stats.failures, 0)
        _ = try login(h, "alice", "password-alice").get()
    }

    func testAnAccountHashedBeforeTheFixKeepsThePartBeforeItsNULAsItsPassword() throws {
        let h = try ChatHarness()
        try storeAccountHashedBeforeTheFix(h, "alice", effectivePassword: "password")  // signed up as "password\0secret"
        _ = try login(h, "alice", "password").get()
        XCTAssertEqual(failure(login(h, "alice", "password\u{0}secret"))?.code, .badRequest)
        XCTAssertEqual(failure(login(h, "alice", "password\u{0}other"))?.code, .badRequest)
    }

    func testAnAccountWhosePasswordStartedWithNULCanNoLongerBeLoggedIntoByPassword() throws {
        let h = try ChatHarness()
        try storeAccountHashedBeforeTheFix(h, "mallory", effectivePassword: "")  // signed up as "\0abcdefg"
        XCTAssertEqual(failure(login(h, "mallory", "\u{0}abcdefg"))?.code, .badRequest)
        XCTAssertEqual(failure(login(h, "mallory", "\u{0}zzzzzzz"))?.code, .badRequest)
        XCTAssertEqual(failure(login(h, "mallory", ""))?.code, .unauthorized, "no password under 8 bytes is checked")
        XCTAssertEqual(failure(login(h, "mallory", "abcdefgh"))?.code, .unauthorized)
    }

    func testWrongPasswordsThenTheRightOneIsRateLimitedWithRetryAfterAndCostsNoHash() throws {
        let h = try ChatHarness()
        _ = try h.signup("alice")
        let counting = CountingHasher(InlineYescryptHasher(random: SeededRandom(seed: 1)))
        let clock = h.clock
        let chat = ChatService(router: LocalRouter(service: h.service), shardMap: try ShardMap(shardCount: 16), hasher: counting,
                               random: SeededRandom(seed: 2), clock: { clock.value })
        func login(_ password: String) -> Result<ChatService.Grant, ChatError> {
            h.wait { chat.login(user: "alice", password: password, device: "d", source: "198.51.100.7", reply: $0) }
        }
        for _ in 0..<6 { XCTAssertEqual(failure(login("wrong-password"))?.code, .unauthorized) }
        XCTAssertEqual(counting.verifications, 6)
        let throttled = failure(login("password-alice"))
        XCTAssertEqual(throttled?.code, .rateLimited)
        XCTAssertEqual(throttled?.httpStatus, 429)
        XCTAssertEqual(throttled?.retryAfterMs, 1_000)
        XCTAssertEqual(counting.verifications, 6, "a throttled attempt is refused before any hash")
        XCTAssertEqual(chat.loginThrottle.stats.throttledByPair, 1)
        XCTAssertEqual(chat.loginThrottle.stats.failures, 6)
        h.now += 1_000
        _ = try login("password-alice").get()
        // The success cleared the pair: five typos are free again.
        for _ in 0..<5 { XCTAssertEqual(failure(login("wrong-password"))?.code, .unauthorized) }
    }

    func testUnknownUsersAreThrottledLikeRealOnes() throws {
        let h = try ChatHarness()
        for _ in 0..<6 { XCTAssertEqual(failure(login(h, "nobody", "whatever-it-is"))?.code, .unauthorized) }
        XCTAssertEqual(failure(login(h, "nobody", "whatever-it-is"))?.code, .rateLimited)
    }
}
