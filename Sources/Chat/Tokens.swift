import Hashing

/// Bearer tokens: 24 random bytes (base64url) then `.` and the user id, so any node finds
/// the user's shard from the token alone. Only SHA-256(token) is stored: a leaked shard file
/// does not hold usable tokens.
public enum Tokens {
    static let randomBytes = 24

    public static func make(user: String, random: RandomSource) -> String {
        Base64.encodeURL(random.bytes(randomBytes)) + "." + user
    }

    /// The user a token names, nil if it is not a token's shape.
    public static func user(of token: String) -> String? {
        guard token.utf8.count <= 128, let dot = token.firstIndex(of: ".") else { return nil }
        let secret = token[..<dot]
        let user = String(token[token.index(after: dot)...])
        guard secret.utf8.count == 32, Identifiers.isValidUser(user) else { return nil }
        return user
    }

    public static func hash(_ token: String) -> [UInt8] { SHA256.hash(Array(token.utf8)) }
}
