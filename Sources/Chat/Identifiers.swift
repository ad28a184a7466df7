/// User and conversation ids (PROTOCOL.md "Conventions").
public enum Identifiers {
    static let minUserLength = 3
    static let maxUserLength = 32
    /// Client ids are chosen by clients; bounded so an index entry stays small.
    public static let maxClientIDBytes = 128
    /// Device names come from the WebSocket URL or the login body.
    public static let maxDeviceBytes = 64

    /// Lowercase `[a-z0-9_.-]`, 3 to 32 characters.
    public static func isValidUser(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count >= minUserLength, bytes.count <= maxUserLength else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2E || b == 0x2D
        }
    }

    /// `dm:` and the two user ids in byte order.
    public static func directConversation(_ a: String, _ b: String) -> String {
        Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) || a == b ? "dm:\(a):\(b)" : "dm:\(b):\(a)"
    }

    /// The two members of a direct conversation id, nil if it is not one (or not canonical).
    public static func directMembers(_ conversationID: String) -> (String, String)? {
        let parts = conversationID.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "dm" else { return nil }
        let a = String(parts[1]), b = String(parts[2])
        guard isValidUser(a), isValidUser(b), directConversation(a, b) == conversationID else { return nil }
        return (a, b)
    }

    public static func isValidConversation(_ id: String) -> Bool {
        if directMembers(id) != nil { return true }
        guard id.hasPrefix("grp:") else { return false }
        let rest = id.utf8.dropFirst(4)
        return !rest.isEmpty && rest.count <= 64 && rest.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D
        }
    }

    public static func isValidDevice(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxDeviceBytes && name.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    }
}
