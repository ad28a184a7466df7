import CSystem
import Glibc

/// An IPv4 or IPv6 socket address, parsed from and printed as "ip:port" ("[ip]:port" for
/// IPv6). Literals only: name resolution (getaddrinfo) blocks, and the loop must never block.
/// "localhost" is accepted as 127.0.0.1 for convenience.
struct SocketAddress: CustomStringConvertible {
    private(set) var storage = sockaddr_storage()
    private(set) var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    init(host: String, port: Int) throws(NetError) {
        guard (0...65_535).contains(port) else {
            throw NetError(errno: EINVAL, operation: "port \(port) out of range")
        }
        var literal = host == "localhost" ? "127.0.0.1" : host
        if literal.hasPrefix("["), literal.hasSuffix("]") {
            literal = String(literal.dropFirst().dropLast())
        }
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, literal, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = UInt16(port).bigEndian
            withUnsafeMutableBytes(of: &storage) { dst in
                withUnsafeBytes(of: v4) { dst.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            return
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, literal, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = UInt16(port).bigEndian
            withUnsafeMutableBytes(of: &storage) { dst in
                withUnsafeBytes(of: v6) { dst.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            return
        }
        throw NetError(errno: EINVAL, operation: "not an IP literal: \(host.prefix(64))")
    }

    /// Parses "ip:port" or "[ipv6]:port".
    init(parsing text: String) throws(NetError) {
        let bad = NetError(errno: EINVAL, operation: "not an ip:port address: \(text.prefix(64))")
        guard text.utf8.count <= 64, let colon = text.lastIndex(of: ":") else { throw bad }
        let host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard !host.isEmpty, (1...5).contains(portText.count),
              portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText) else { throw bad }
        // An unbracketed IPv6 host is ambiguous ("::1:80"): require brackets.
        if host.contains(":"), !host.hasPrefix("[") { throw bad }
        try self.init(host: host, port: port)
    }

    /// Wraps an address the kernel filled in (accept, recvfrom, getsockname).
    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    var port: Int {
        // sin_port and sin6_port both sit at byte 2, in network byte order.
        guard family == AF_INET || family == AF_INET6 else { return 0 }
        return withUnsafeBytes(of: storage) { raw in
            Int(UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
        }
    }

    var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var copy = storage
        return withUnsafeMutablePointer(to: &copy) { pointer -> String in
            let raw = UnsafeMutableRawPointer(pointer)
            switch family {
            case AF_INET:
                let addr = raw.assumingMemoryBound(to: sockaddr_in.self)
                guard inet_ntop(AF_INET, &addr.pointee.sin_addr, &text, socklen_t(text.count)) != nil else { return "?" }
                return "\(Self.string(text)):\(port)"
            case AF_INET6:
                let addr = raw.assumingMemoryBound(to: sockaddr_in6.self)
                guard inet_ntop(AF_INET6, &addr.pointee.sin6_addr, &text, socklen_t(text.count)) != nil else { return "?" }
                return "[\(Self.string(text))]:\(port)"
            default:
                return "?"
            }
        }
    }

    private static func string(_ cString: [CChar]) -> String {
        String(decoding: cString.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
