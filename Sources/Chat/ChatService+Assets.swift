// The front's side of assets (the shard operations are in Features/Assets.swift): who may
// read one, and the check a send makes on the assets it carries.
extension ChatService {
    /// The asset's row if `user` may read it; `not_found` otherwise, the same as for an asset
    /// that does not exist (PROTOCOL.md: never a hint that it exists).
    public func readableAsset(_ assetID: String, user: String, reply: @escaping (Result<AssetMeta, ChatError>) -> Void) {
        guard Self.isValidAssetID(assetID) else { return reply(.failure(Self.unknownAsset(assetID))) }
        router.call(AssetAccess(assetID: assetID, reader: user)) { [self] result in
            switch result {
            case .failure(let error): reply(.failure(error))
            case .success(let grant):
                guard let meta = grant.meta else { return reply(.failure(Self.unknownAsset(assetID))) }
                if grant.readable { return reply(.success(meta)) }
                checkRefs(grant.refs[...], asset: assetID, user: user) { readable in
                    switch readable {
                    case .failure(let error): reply(.failure(error))
                    case .success(true): reply(.success(meta))
                    case .success(false): reply(.failure(Self.unknownAsset(assetID)))
                    }
                }
            }
        }
    }

    /// Whether `user` may read the asset (for profiles: a new avatar must be its owner's).
    public func canRead(asset assetID: String, user: String, reply: @escaping (Result<Bool, ChatError>) -> Void) {
        readableAsset(assetID, user: user) { result in
            switch result {
            case .success: reply(.success(true))
            case .failure(let error) where error.code == .notFound: reply(.success(false))
            case .failure(let error): reply(.failure(error))
            }
        }
    }

    /// Records (or clears) `user`'s avatar on an asset, so whoever may see `user`'s profile may
    /// read it, and it is never collected while set (for profiles).
    public func setAvatar(asset assetID: String, user: String, set: Bool, reply: @escaping (Result<Void, ChatError>) -> Void) {
        router.call(SetAvatarRef(assetID: assetID, user: user, set: set)) { reply($0.map { _ in () }) }
    }

    /// Asks the conversations one after the other, stopping at the first that lets `user` read.
    private func checkRefs(_ refs: ArraySlice<AssetAccess.MessageRef>, asset assetID: String, user: String, done: @escaping (Result<Bool, ChatError>) -> Void) {
        guard let ref = refs.first else { return done(.success(false)) }
        if ref.conversationID.hasPrefix(AssetLimits.avatarPrefix) {
            // An avatar: readable by whoever the owner's profile shows it to.
            let owner = String(ref.conversationID.dropFirst(AssetLimits.avatarPrefix.count))
            let viewer = Session(user: user, device: "", tokenHash: [], expiresAt: 0)
            return profile(viewer, user: owner) { [self] result in
                if case .success(let shown) = result, let avatar = shown["avatar"]?.stringValue, avatar == assetID {
                    return done(.success(true))
                }
                checkRefs(refs.dropFirst(), asset: assetID, user: user, done: done)
            }
        }
        router.call(CanReadSeq(conversationID: ref.conversationID, reader: user, seq: ref.seq)) { [self] result in
            switch result {
            case .success(true): done(.success(true))
            case .success(false): checkRefs(refs.dropFirst(), asset: assetID, user: user, done: done)
            case .failure(let error) where error.code == .notFound: checkRefs(refs.dropFirst(), asset: assetID, user: user, done: done)
            case .failure(let error): done(.failure(error))
            }
        }
    }

    /// A message may carry only assets its sender can read (PROTOCOL.md): each is checked, in
    /// order; the first that is not is `not_found`, as if it did not exist.
    func checkAttachments(_ assets: ArraySlice<String>, user: String, done: @escaping (Result<Void, ChatError>) -> Void) {
        guard let asset = assets.first else { return done(.success(())) }
        readableAsset(asset, user: user) { [self] result in
            if case .failure(let error) = result { return done(.failure(error)) }
            checkAttachments(assets.dropFirst(), user: user, done: done)
        }
    }

    static func unknownAsset(_ id: String) -> ChatError { ChatError(.notFound, "unknown asset \(id)") }

    /// `a_` and 32 lowercase hex digits, as `POST /v1/assets` makes them.
    public static func isValidAssetID(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard utf8.count == 34, id.hasPrefix("a_") else { return false }
        return utf8.dropFirst(2).allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
