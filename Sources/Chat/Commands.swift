import JSON
import Store

/// A client's `send` (WebSocket) or `POST /v1/messages` body, checked.
public struct SendCommand: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case user(String)
        case conversation(String)
    }
    public var clientID: String
    public var target: Target
    public var kind: MessageKind
    public var body: String
    public var attachments: [String]
    public var tip: Tip?
    /// Set by the front once the sender was found able to read every attachment.
    var attachmentsChecked = false
    /// An image's size in pixels, if the client gives it (both or neither; docs/ASSETS.md).
    public var width: Int64?
    public var height: Int64?
    public static let maxImageSide: Int64 = 1_000_000

    /// `body` is at most 64 KiB of UTF-8 (PROTOCOL.md "Messages").
    public static let maxBodyBytes = 64 * 1024
    public static let maxAttachments = 32

    public init(_ o: JSONObject) throws(ChatError) {
        clientID = try Fields.string(o, "client_id", maxBytes: Identifiers.maxClientIDBytes)
        switch (o["to"], o["conversation_id"]) {
        case (.some(.string(let to)), nil), (.some(.string(let to)), .some(.null)):
            guard Identifiers.isValidUser(to) else { throw .badRequest("`to` is not a valid user id") }
            target = .user(to)
        case (nil, .some(.string(let id))), (.some(.null), .some(.string(let id))):
            guard Identifiers.isValidConversation(id) else { throw .badRequest("`conversation_id` is not a valid conversation id") }
            target = .conversation(id)
        case (nil, nil), (.some(.null), .some(.null)), (nil, .some(.null)), (.some(.null), nil):
            throw .badRequest("`to` or `conversation_id` is required")
        case (.some(.string), .some(.string)):
            throw .badRequest("give `to` or `conversation_id`, not both")
        default:
            throw .badRequest("`to` and `conversation_id` must be strings")
        }
        let kindText = try Fields.string(o, "kind", maxBytes: 16)
        guard let kind = MessageKind(rawValue: kindText), MessageKind.sendable.contains(kind) else {
            throw .badRequest("unknown kind \(kindText)")
        }
        self.kind = kind
        guard case .string(let body)? = o["body"] else { throw .badRequest("`body` (a string) is required") }
        guard body.utf8.count <= Self.maxBodyBytes else { throw ChatError(.tooLarge, "`body` is over \(Self.maxBodyBytes) bytes") }
        self.body = body
        switch o["attachments"] {
        case nil, .some(.null): attachments = []
        case .some(.array(let items)):
            guard items.count <= Self.maxAttachments else { throw .badRequest("at most \(Self.maxAttachments) attachments") }
            attachments = try items.map { item throws(ChatError) in
                guard case .string(let id) = item, !id.isEmpty, id.utf8.count <= 64 else {
                    throw .badRequest("`attachments` must be asset ids")
                }
                return id
            }
        default: throw .badRequest("`attachments` must be an array of asset ids")
        }
        switch o["tip"] {
        case nil, .some(.null): tip = nil
        case .some(.object(let t)):
            guard let cents = t["amount_cents"]?.intValue, cents > 0 else { throw .badRequest("`tip.amount_cents` must be a positive integer") }
            let currency: String
            switch t["currency"] {
            case nil, .some(.null): currency = TipRules.currencies[0]
            case .some(.string(let code)) where code.utf8.count <= 8: currency = code
            default: throw .badRequest("`tip.currency` must be a currency code such as \"USD\"")
            }
            let checked = Tip(amountCents: cents, currency: currency)
            try TipRules.check(checked)   // Wallet.swift: the bound and the supported currencies
            tip = checked
        default: throw .badRequest("`tip` must be an object")
        }
        if kind == .tip && tip == nil { throw .badRequest("a `tip` message needs `tip`") }
        // Assets (docs/ASSETS.md): a media message carries what it is about.
        if [.image, .video, .audio, .file].contains(kind), attachments.isEmpty {
            throw .badRequest("a `\(kind.rawValue)` message needs `attachments`")
        }
        switch (o["width"], o["height"]) {
        case (nil, nil), (.some(.null), .some(.null)), (nil, .some(.null)), (.some(.null), nil): break
        case (.some(let w), .some(let h)):
            guard kind == .image else { throw .badRequest("`width` and `height` are for `image` messages") }
            guard let w = w.intValue, let h = h.intValue, (1...Self.maxImageSide).contains(w), (1...Self.maxImageSide).contains(h) else {
                throw .badRequest("`width` and `height` must be integers from 1 to \(Self.maxImageSide)")
            }
            width = w
            height = h
        default: throw .badRequest("give both `width` and `height`, or neither")
        }
    }
}

/// A `receipt`: cumulative cursors.
public struct ReceiptCommand: Sendable, Equatable {
    public var conversationID: String
    public var delivered: Int64?
    public var read: Int64?

    public init(_ o: JSONObject, conversationID: String? = nil) throws(ChatError) {
        if let conversationID {
            self.conversationID = conversationID
        } else {
            self.conversationID = try Fields.string(o, "conversation_id", maxBytes: 128)
        }
        guard Identifiers.isValidConversation(self.conversationID) else { throw .badRequest("`conversation_id` is not a valid conversation id") }
        delivered = try Fields.optionalSeq(o, "delivered")
        read = try Fields.optionalSeq(o, "read")
        guard delivered != nil || read != nil else { throw .badRequest("`delivered` or `read` is required") }
    }
}

/// Field readers with the protocol's errors.
public enum Fields {
    public static func string(_ o: JSONObject, _ name: String, maxBytes: Int) throws(ChatError) -> String {
        guard case .string(let value)? = o[name] else { throw .badRequest("`\(name)` (a string) is required") }
        guard !value.isEmpty else { throw .badRequest("`\(name)` is empty") }
        guard value.utf8.count <= maxBytes else { throw .badRequest("`\(name)` is over \(maxBytes) bytes") }
        return value
    }

    public static func optionalString(_ o: JSONObject, _ name: String, maxBytes: Int) throws(ChatError) -> String? {
        switch o[name] {
        case nil, .some(.null): return nil
        case .some(.string(let value)):
            guard value.utf8.count <= maxBytes else { throw .badRequest("`\(name)` is over \(maxBytes) bytes") }
            return value
        default: throw .badRequest("`\(name)` must be a string")
        }
    }

    public static func optionalSeq(_ o: JSONObject, _ name: String) throws(ChatError) -> Int64? {
        switch o[name] {
        case nil, .some(.null): return nil
        case .some(let value):
            guard let n = value.intValue, n >= 0 else { throw .badRequest("`\(name)` must be a non-negative integer") }
            return n
        }
    }

    /// A query parameter that must be a non-negative integer when present.
    public static func querySeq(_ query: [String: String], _ name: String) throws(ChatError) -> Int64? {
        guard let text = query[name] else { return nil }
        guard let n = Int64(text), n >= 0 else { throw .badRequest("`\(name)` must be a non-negative integer") }
        return n
    }
}
