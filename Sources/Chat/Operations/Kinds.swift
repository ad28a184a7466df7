/// The kinds and roles the protocol names (PROTOCOL.md), in one place each: the stored and
/// sent text is the raw value.
public enum ConversationKind: String, Sendable, CaseIterable {
    case direct
    case group
}

public enum MemberRole: String, Sendable, CaseIterable {
    case admin
    case member
}

public enum MessageKind: String, Sendable, CaseIterable {
    case text, image, video, audio, file, tip, system, ciphertext

    /// Kinds a client may send: `system` messages come from the server only.
    public static let sendable: Set<MessageKind> = Set(allCases).subtracting([.system])
}
