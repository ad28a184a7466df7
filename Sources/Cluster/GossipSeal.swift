import Gossip
import Hashing

/// The authenticated envelope around every gossip datagram (envelope format 2):
///
///     tag[16] | format u8 = 2 | stamp u64 | senderLength u8 | sender | body
///
/// `tag` = HMAC-SHA256(key, every byte after the tag)[0..<16], the key being
/// SHA-256("relay-gossip\0" + cluster + "\0" + secret). `sender` is the sending socket's
/// "ip:port" (the sender binding): the receiver requires it to equal the UDP source, so a
/// captured datagram sent again from any other address is refused. `stamp` (big-endian) is
/// `max(last + 1, wallClockMs << 16)`, strictly increasing per process and still rising
/// across a restart while the wall clock does; the receiver refuses a stamp it has seen or
/// one older than its window (`ReplayWindow`), which catches a replay with a spoofed source.
/// `body` is a SWIM datagram (`GossipCodec`). Format 1 was `tag | body`, with no version
/// byte; its datagrams fail the tag check here.
///
/// Pure: the wall clock comes in as a parameter.
struct GossipSeal {
    static let format: UInt8 = 2
    static let tagBytes = 16
    /// format, stamp, sender length.
    static let fixedHeaderBytes = 1 + 8 + 1
    /// The largest envelope: a sender of `GossipLimits.maxAddressBytes`. 90 bytes, so a SWIM
    /// datagram of 1400 − 90 = 1310 bytes keeps every sealed datagram within 1400.
    static let maxOverheadBytes = tagBytes + fixedHeaderBytes + GossipLimits.maxAddressBytes

    /// Why a datagram was refused, in the order the checks run: the tag first, so nothing
    /// unauthenticated reaches the binding or creates replay state; the binding before the
    /// window, so a copy relayed from elsewhere does not use up the genuine datagram's stamp.
    enum Rejection: Error, Equatable {
        /// Too short, another format, or a tag that does not match: not from a key holder.
        case badTag
        /// Authentic, but the sender binding is not the address it came from.
        case wrongSender
        /// Authentic, from its sender's address, and a stamp already accepted.
        case duplicate
        /// Authentic, from its sender's address, and older than the replay window.
        case stale
    }

    static func key(cluster: String, secret: String) -> [UInt8] {
        SHA256.hash(Array("relay-gossip\u{0}\(cluster)\u{0}\(secret)".utf8))
    }

    private let key: [UInt8]
    /// Our binding, as receivers' kernels report our address.
    let sender: String
    private let senderBytes: [UInt8]
    /// The last stamp we sealed with.
    private(set) var lastStamp: UInt64 = 0
    private(set) var window: ReplayWindow

    init(key: [UInt8], sender: String, window: ReplayWindow = ReplayWindow()) {
        precondition(!sender.isEmpty && sender.utf8.count <= GossipLimits.maxAddressBytes,
                     "gossip sender binding must be 1...\(GossipLimits.maxAddressBytes) bytes: \(sender.prefix(80))")
        self.key = key
        self.sender = sender
        senderBytes = Array(sender.utf8)
        self.window = window
    }

    var overheadBytes: Int { Self.tagBytes + Self.fixedHeaderBytes + senderBytes.count }

    /// The next stamp: milliseconds of the wall clock in the high 48 bits, so a restarted
    /// process starts above its predecessor's stamps; +1 per datagram when the clock has not
    /// moved (or stepped back), so stamps never repeat within a process.
    mutating func nextStamp(wallClockMs: Int64) -> UInt64 {
        let clock = UInt64(min(max(0, wallClockMs), Int64(1) << 47)) * ReplayWindow.stampsPerMs
        lastStamp = max(lastStamp &+ 1, clock)
        return lastStamp
    }

    /// `body` in an envelope with a fresh stamp.
    mutating func seal(_ body: [UInt8], wallClockMs: Int64) -> [UInt8] {
        let stamp = nextStamp(wallClockMs: wallClockMs)
        var signed: [UInt8] = []
        signed.reserveCapacity(Self.fixedHeaderBytes + senderBytes.count + body.count)
        signed.append(Self.format)
        for shift in stride(from: 56, through: 0, by: -8) { signed.append(UInt8(truncatingIfNeeded: stamp >> UInt64(shift))) }
        signed.append(UInt8(senderBytes.count))
        signed.append(contentsOf: senderBytes)
        signed.append(contentsOf: body)
        return tag(signed) + signed
    }

    /// The body of a datagram received from `source` (its UDP source "ip:port"), if it is
    /// authentic, bound to `source`, and fresh; its stamp is then remembered.
    mutating func open(_ datagram: [UInt8], from source: String) throws(Rejection) -> [UInt8] {
        let headerEnd = Self.tagBytes + Self.fixedHeaderBytes
        guard datagram.count >= headerEnd, datagram[Self.tagBytes] == Self.format else { throw .badTag }
        let senderLength = Int(datagram[headerEnd - 1])
        let bodyStart = headerEnd + senderLength
        guard datagram.count >= bodyStart else { throw .badTag }
        let signed = Array(datagram[Self.tagBytes...])
        guard constantTimeEquals(Array(datagram[..<Self.tagBytes]), tag(signed)) else { throw .badTag }
        guard datagram[headerEnd..<bodyStart].elementsEqual(source.utf8) else { throw .wrongSender }
        var stamp: UInt64 = 0
        for byte in datagram[(Self.tagBytes + 1)..<(Self.tagBytes + 9)] { stamp = stamp << 8 | UInt64(byte) }
        switch window.admit(stamp: stamp, from: source) {
        case .fresh: return Array(datagram[bodyStart...])
        case .duplicate: throw .duplicate
        case .stale: throw .stale
        }
    }

    private func tag(_ signed: [UInt8]) -> [UInt8] {
        Array(HMAC.sha256(key: key, message: signed).prefix(Self.tagBytes))
    }
}
