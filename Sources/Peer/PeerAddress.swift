/// A peer's "host:port" from the cluster config, with an IP literal host ("[::1]:7101" for
/// IPv6). Nil for anything else, which the link reports as unreachable.
struct PeerAddress: Equatable {
    let host: String
    let port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else {
            return nil
        }
        self.host = host
        self.port = port
    }
}
