import Hashing
import Store
import Wire

// The key directory for end-to-end encryption (PROTOCOL.md `PUT /v1/keys`,
// `GET /v1/users/{user}/keys`): each device of a user publishes an identity key, a signed
// prekey and a batch of one-time prekeys; a fetch of a user's bundles hands out one one-time
// prekey per device, each exactly once. The server stores and serves public keys only, as
// opaque base64 text it never parses. Everything lives on the owner's user shard, so one
// fetch is one operation on one primary: operations of a shard run one at a time and a
// reply leaves only once its writes are held by the shard's in-sync replicas, so two
// concurrent fetches never get the same prekey, and a failover never hands out again one
// that was answered. The SQL is in Keys+Store.swift; the front in ChatService+Keys.swift.

public enum KeyLimits {
    /// Characters of one key's base64 text: room for post-quantum keys (a Kyber-1024 public key
    /// is 1,568 bytes, 2,092 characters), small enough to bound a bundle.
    public static let maxKeyCharacters = 4_096
    /// One-time prekeys in one `PUT /v1/keys`, and unused ones kept per device.
    public static let maxPrekeysPerUpload = 100
    public static let maxPrekeysPerDevice = 500
    /// Handed-out prekeys remembered per device, so a retried upload of the same batch does
    /// not bring a used one back.
    public static let usedPrekeysKept = 1_000
    /// Devices with a key bundle per user.
    public static let maxDevicesWithKeys = 32
    /// Below this many unused one-time prekeys, `hello` tells the device it is running low.
    public static let lowPrekeys = 10

    /// Public keys are base64 (standard or URL-safe alphabet, padding optional), never empty.
    public static func isValidKey(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= maxKeyCharacters else { return false }
        return Base64.decode(text) != nil || Base64.decodeURL(text) != nil
    }
}

/// A device's public bundle as `GET /v1/users/{user}/keys` returns it.
public struct KeyBundle: Sendable, Equatable {
    public var device: String
    public var identityKey: String
    public var signedPrekey: String
    public var oneTimePrekey: String?
    public init(device: String, identityKey: String, signedPrekey: String, oneTimePrekey: String?) {
        self.device = device
        self.identityKey = identityKey
        self.signedPrekey = signedPrekey
        self.oneTimePrekey = oneTimePrekey
    }
}

/// Publishes (or replaces) a device's identity key and signed prekey and adds one-time
/// prekeys. A new identity key drops the device's old one-time prekeys (they went with the
/// old identity). Prekeys the device already uploaded, used or not, are skipped, so a retried
/// upload changes nothing.
public struct PutKeys: ShardOperation {
    public static let code = OperationCode.putKeys
    public var user: String
    public var device: String
    public var identityKey: String
    public var signedPrekey: String
    public var oneTimePrekeys: [String]
    public init(user: String, device: String, identityKey: String, signedPrekey: String, oneTimePrekeys: [String]) {
        self.user = user
        self.device = device
        self.identityKey = identityKey
        self.signedPrekey = signedPrekey
        self.oneTimePrekeys = oneTimePrekeys
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(user); w.writeString(device); w.writeString(identityKey); w.writeString(signedPrekey); w.writeStrings(oneTimePrekeys)
    }
    public init(from r: inout WireReader) throws {
        self.init(user: try r.readText(), device: try r.readText(), identityKey: try r.readText(), signedPrekey: try r.readText(),
                  oneTimePrekeys: try r.readStrings())
    }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        guard oneTimePrekeys.count <= KeyLimits.maxPrekeysPerUpload else {
            throw ChatError.badRequest("at most \(KeyLimits.maxPrekeysPerUpload) one-time prekeys per upload")
        }
        let current = try store.identityKey(user: user, device: device)
        if current == nil, try store.devicesWithKeys(user: user) >= KeyLimits.maxDevicesWithKeys {
            throw ChatError(.conflict, "at most \(KeyLimits.maxDevicesWithKeys) devices with keys")
        }
        if let current, current != identityKey { try store.deletePrekeys(user: user, device: device) }
        var fresh: [String] = []
        var seen = Set<String>()
        for prekey in oneTimePrekeys where seen.insert(prekey).inserted {
            if try !store.hasPrekey(user: user, device: device, prekey: prekey) { fresh.append(prekey) }
        }
        guard try store.unusedPrekeys(user: user, device: device) + fresh.count <= KeyLimits.maxPrekeysPerDevice else {
            throw ChatError(.conflict, "at most \(KeyLimits.maxPrekeysPerDevice) unused one-time prekeys per device")
        }
        try store.putIdentity(user: user, device: device, identityKey: identityKey, signedPrekey: signedPrekey, now: context.now)
        try store.addPrekeys(user: user, device: device, fresh)
        return Done()
    }
}

/// Every device's bundle of `user`, each with one unused one-time prekey taken (marked used)
/// while any is left; nil for an unknown user.
public struct TakeKeyBundles: ShardOperation {
    public static let code = OperationCode.takeKeyBundles
    public var user: String
    public init(user: String) { self.user = user }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user) }
    public init(from r: inout WireReader) throws { user = try r.readText() }
    public static func encode(reply: [KeyBundle]?, _ w: inout WireWriter) {
        guard let reply else { return w.writeU8(0) }
        w.writeU8(1)
        w.writeList(reply) { b, w in
            w.writeString(b.device); w.writeString(b.identityKey); w.writeString(b.signedPrekey); w.writeOptionalString(b.oneTimePrekey)
        }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> [KeyBundle]? {
        guard try r.readU8() == 1 else { return nil }
        return try r.readList { r in
            KeyBundle(device: try r.readText(), identityKey: try r.readText(), signedPrekey: try r.readText(),
                      oneTimePrekey: try r.readOptionalString())
        }
    }
    public func run(in context: ShardContext) throws -> [KeyBundle]? {
        let store = context.store
        guard try store.user(user) != nil else { return nil }
        var bundles = try store.identities(user: user)
        for i in bundles.indices {
            bundles[i].oneTimePrekey = try store.takePrekey(user: user, device: bundles[i].device)
        }
        return bundles
    }
}

/// Unused one-time prekeys of one device (for `hello`).
public struct PrekeyCount: ShardOperation {
    public static let code = OperationCode.prekeyCount
    public var user: String
    public var device: String
    public init(user: String, device: String) {
        self.user = user
        self.device = device
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(device) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), device: try r.readText()) }
    public static func encode(reply: Int64, _ w: inout WireWriter) { w.writeInt(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Int64 { try r.readInt() }
    public func run(in context: ShardContext) throws -> Int64 { Int64(try context.store.unusedPrekeys(user: user, device: device)) }
}
