/// Which close codes a peer may send (RFC 6455 7.4.1, 7.4.2, and the IANA registry of 11.7).
enum WebSocketCloseCode {
    /// Receiving any other code is a protocol error. 1005 and 1006 are for APIs only and
    /// 1015 is the TLS failure marker: never on the wire. 1004 is reserved; 1016-2999 are
    /// reserved for future RFCs; 3000-3999 are registered and 4000-4999 private use.
    /// 1012-1014 are IANA-registered (Service Restart, Try Again Later, Bad Gateway).
    static func isAllowedOnWire(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
