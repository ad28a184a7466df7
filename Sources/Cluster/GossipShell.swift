import Gossip
import Hashing
import Net

/// The thin UDP shell around `SWIMInstance`: sends its datagrams, runs its one timer, and
/// hands its member changes to the node. Every datagram carries a 16-byte HMAC-SHA256 tag
/// keyed from the cluster name and secret, so a node without the secret (or of another
/// cluster) is not heard at all: its datagrams are dropped before SWIM sees them.
final class GossipShell {
    static let tagBytes = 16

    private(set) var swim: SWIMInstance
    private let loop: EventLoop
    private var socket: UDPSocket?
    private var tick: TimerID?
    private let key: [UInt8]
    var onMemberChanged: ((Member) -> Void)?
    private(set) var rejectedDatagrams = 0
    private(set) var datagramsSent = 0
    private(set) var bytesSent = 0

    init(swim: SWIMInstance, loop: EventLoop, cluster: String, secret: String) {
        self.swim = swim
        self.loop = loop
        key = SHA256.hash(Array("relay-gossip\u{0}\(cluster)\u{0}\(secret)".utf8))
    }

    private var now: Instant { Instant(ms: loop.monotonicMs) }

    func bind(host: String, port: Int) throws(NetError) {
        socket = try loop.bindUDP(host: host, port: port) { [unowned self] bytes, from in received(bytes, from: from) }
    }

    func join(seeds: [String]) { perform(swim.join(seeds: seeds, now: now)) }

    func leave() { perform(swim.leave(now: now)) }

    func close() {
        if let tick { loop.cancel(tick) }
        socket?.close()
        socket = nil
    }

    private func received(_ bytes: [UInt8], from: String) {
        guard bytes.count > Self.tagBytes else { rejectedDatagrams += 1; return }
        let body = Array(bytes[Self.tagBytes...])
        guard constantTimeEquals(Array(bytes[..<Self.tagBytes]), tag(body)) else { rejectedDatagrams += 1; return }
        perform(swim.onDatagram(body, from: from, now: now))
    }

    private func tag(_ body: [UInt8]) -> [UInt8] { Array(HMAC.sha256(key: key, message: body).prefix(Self.tagBytes)) }

    private func perform(_ directives: [Directive]) {
        for directive in directives {
            switch directive {
            case .send(let to, let bytes):
                datagramsSent += 1
                bytesSent += bytes.count + Self.tagBytes
                socket?.send(tag(bytes) + bytes, to: to)
            case .scheduleTick(let at):
                if let tick { loop.cancel(tick) }
                tick = loop.schedule(afterMs: max(0, at.ms - now.ms)) { [weak self] in
                    guard let self else { return }
                    tick = nil
                    perform(swim.onTick(now: now))
                }
            case .memberChanged(let member):
                onMemberChanged?(member)
            }
        }
    }
}
