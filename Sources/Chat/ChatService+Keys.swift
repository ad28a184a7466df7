// The front's side of the key directory (the shard operations are in Features/Keys.swift).
extension ChatService {
    /// `PUT /v1/keys`: the caller's own device bundle.
    public func putKeys(_ session: Session, device: String, identityKey: String, signedPrekey: String, oneTimePrekeys: [String],
                        reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard Identifiers.isValidDevice(device) else { return reply(.failure(.badRequest("`device` is 1 to 64 printable characters"))) }
        for (name, key) in [("identity_key", identityKey), ("signed_prekey", signedPrekey)] where !KeyLimits.isValidKey(key) {
            return reply(.failure(.badRequest("`\(name)` is base64 text of at most \(KeyLimits.maxKeyCharacters) characters")))
        }
        guard oneTimePrekeys.allSatisfy(KeyLimits.isValidKey) else {
            return reply(.failure(.badRequest("each one-time prekey is base64 text of at most \(KeyLimits.maxKeyCharacters) characters")))
        }
        router.call(PutKeys(user: session.user, device: device, identityKey: identityKey, signedPrekey: signedPrekey,
                            oneTimePrekeys: oneTimePrekeys)) { reply($0.map { _ in () }) }
    }

    /// `GET /v1/users/{user}/keys`: each device's bundle, taking one one-time prekey per
    /// device; 404 for an unknown user.
    public func keyBundles(_ session: Session, user: String, reply: @escaping (Result<[KeyBundle], ChatError>) -> Void) {
        guard Identifiers.isValidUser(user) else { return reply(.failure(.badRequest("\(user) is not a valid user id"))) }
        router.call(TakeKeyBundles(user: user)) { result in
            switch result {
            case .success(let bundles?): reply(.success(bundles))
            case .success(nil): reply(.failure(ChatError(.notFound, "no user \(user)")))
            case .failure(let error): reply(.failure(error))
            }
        }
    }

    /// Unused one-time prekeys of the session's device, for `hello`.
    public func prekeyCount(_ session: Session, device: String, reply: @escaping (Result<Int64, ChatError>) -> Void) {
        router.call(PrekeyCount(user: session.user, device: device), reply: reply)
    }
}
