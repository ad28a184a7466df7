import Chat
import HTTPWire
import JSON

/// The key directory for end-to-end encryption: public keys only, opaque base64 text.
extension HTTPAPI {
    /// `PUT /v1/keys`: 204.
    func putKeys(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { o throws(ChatError) in
                let device = try Fields.optionalString(o, "device", maxBytes: Identifiers.maxDeviceBytes) ?? session.device
                let identity = try Fields.string(o, "identity_key", maxBytes: KeyLimits.maxKeyCharacters)
                let signed = try Fields.string(o, "signed_prekey", maxBytes: KeyLimits.maxKeyCharacters)
                let prekeys = try Fields.optionalStrings(o, "one_time_prekeys", maxCount: KeyLimits.maxPrekeysPerUpload) ?? []
                chat.putKeys(session, device: device, identityKey: identity, signedPrekey: signed, oneTimePrekeys: prekeys) { result in
                    switch result {
                    case .success: respond(Reply.noContent())
                    case .failure(let error): respond(Reply.error(error))
                    }
                }
            }
        }
    }

    /// `GET /v1/users/{user}/keys`: one one-time prekey per device is handed out, once.
    func userKeys(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let user: String
            do throws(ChatError) { user = try call.parameter("user") } catch { return respond(Reply.error(error)) }
            chat.keyBundles(session, user: user) { result in
                switch result {
                case .success(let bundles):
                    let list: [JSON] = bundles.map { b in
                        var o: JSONObject = ["device": .string(b.device), "identity_key": .string(b.identityKey),
                                             "signed_prekey": .string(b.signedPrekey)]
                        if let prekey = b.oneTimePrekey { o["one_time_prekey"] = .string(prekey) }
                        return .object(o)
                    }
                    respond(Reply.json(200, ["user": .string(user), "devices": .array(list)]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }
}
