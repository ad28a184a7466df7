import JSON
import Store
import Wire

// Creator lists and mass messages (PROTOCOL.md "Mass messages"), on the owner's user shard:
// a list and its members, and each mass message's record with the outbox job that sends it.
// A request names the list by id and the owner by its session (or, for operators, by the
// path), so every operation here is keyed by the owner: another user's request for the same
// id looks on its own shard and finds nothing (404, as if the list did not exist).
//
// Mass messages: the POST records the message and its job in one transaction (replicated),
// then answers 202. The job (`ListMessageJob`) reads the members in byte order a batch at a
// time and sends each one the message in the direct chat with the owner (opening it when
// needed) under the client_id `list:<list_id>:<client_id>`, idempotent by the send's own
// (conversation, sender, client_id) rule; after each batch it saves the last member reached,
// so a new primary resumes from there. The membership it reads is the list as it was at the
// POST: each member row carries the list version it was added (and removed) at, and the job
// keeps the version of its POST. The front's side is in ChatService+Lists.swift; the SQL in
// Lists+Store.swift.

public enum ListLimits {
    /// Members of one list: a creator's audience, bounded so one list stays a bounded scan.
    public static let maxMembers = 100_000
    /// Members named by one request: keeps one request's log entry near 1 MB at most.
    public static let maxMembersPerRequest = 10_000
    /// Lists of one owner: `GET /v1/lists` is one reply.
    public static let maxListsPerOwner = 1_000
    public static let maxNameBytes = 128
    /// Recipients per step of a mass message's job; its progress is saved after each step,
    /// so at most one batch is sent again after a failover (idempotently).
    public static let batchSize = 250
    /// Sends of one job in flight at once: bounds what one mass message asks of the cluster.
    public static let sendsInFlight = 32
}

public struct ListSummary: Sendable, Equatable {
    public var listID: String
    public var name: String
    public var size: Int64
    public init(listID: String, name: String, size: Int64) {
        self.listID = listID
        self.name = name
        self.size = size
    }
}

public struct ListRecord: Sendable, Equatable {
    public var listID: String
    public var name: String
    public var size: Int64
    public var version: Int64
}

/// A mass message's progress (`GET /v1/lists/{id}/messages/{client_id}`).
public struct ListMessageStatus: Sendable, Equatable {
    public var recipients: Int64
    public var done: Int64
    public init(recipients: Int64, done: Int64) {
        self.recipients = recipients
        self.done = done
    }
    public var pending: Int64 { max(0, recipients - done) }
}

/// A `POST /v1/lists/{id}/messages` body, checked.
public struct ListMessageCommand: Sendable, Equatable {
    public var clientID: String
    public var kind: MessageKind
    public var body: String
    public var attachments: [String]

    public init(_ o: JSONObject) throws(ChatError) {
        clientID = try Fields.string(o, "client_id", maxBytes: Identifiers.maxClientIDBytes)
        let kindText = try Fields.string(o, "kind", maxBytes: 16)
        guard let kind = MessageKind(rawValue: kindText), MessageKind.sendable.contains(kind), kind != .tip else {
            throw .badRequest("unknown kind \(kindText) (a mass message is not a `system` or `tip` message)")
        }
        self.kind = kind
        guard case .string(let body)? = o["body"] else { throw .badRequest("`body` (a string) is required") }
        guard body.utf8.count <= SendCommand.maxBodyBytes else { throw ChatError(.tooLarge, "`body` is over \(SendCommand.maxBodyBytes) bytes") }
        self.body = body
        switch o["attachments"] {
        case nil, .some(.null): attachments = []
        case .some(.array(let items)):
            guard items.count <= SendCommand.maxAttachments else { throw .badRequest("at most \(SendCommand.maxAttachments) attachments") }
            attachments = try items.map { item throws(ChatError) in
                guard case .string(let id) = item, !id.isEmpty, id.utf8.count <= 64 else { throw .badRequest("`attachments` must be asset ids") }
                return id
            }
        default: throw .badRequest("`attachments` must be an array of asset ids")
        }
        if [.image, .video, .audio, .file].contains(kind), attachments.isEmpty {
            throw .badRequest("a `\(kind.rawValue)` message needs `attachments`")
        }
    }

    /// The client_id each recipient's copy is sent under: one per (list, client_id).
    public static func recipientClientID(listID: String, clientID: String) -> String { "list:\(listID):\(clientID)" }
}

public enum ListFields {
    /// A list id as the server makes them: `lst_` and 24 hex digits.
    public static func isValidListID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        return bytes.count == 28 && id.hasPrefix("lst_") && bytes.dropFirst(4).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    public static func name(_ o: JSONObject) throws(ChatError) -> String {
        try Fields.string(o, "name", maxBytes: ListLimits.maxNameBytes)
    }

    /// `members`: user ids, at most `maxMembersPerRequest`, none the owner; duplicates are
    /// taken once. Returned in byte order.
    public static func members(_ o: JSONObject, owner: String, required: Bool) throws(ChatError) -> [String] {
        let items: [JSON]
        switch o["members"] {
        case .some(.array(let list)): items = list
        case nil, .some(.null):
            if required { throw .badRequest("`members` (an array of user ids) is required") }
            items = []
        default: throw .badRequest("`members` must be an array of user ids")
        }
        guard items.count <= ListLimits.maxMembersPerRequest else {
            throw ChatError(.tooLarge, "at most \(ListLimits.maxMembersPerRequest) members per request; add more with further requests")
        }
        var out = Set<String>()
        for item in items {
            guard case .string(let user) = item, Identifiers.isValidUser(user) else {
                throw .badRequest("`members` must be user ids (lowercase [a-z0-9_.-], 3 to 32 characters)")
            }
            try member(user, owner: owner)
            out.insert(user)
        }
        return out.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    public static func member(_ user: String, owner: String) throws(ChatError) {
        guard Identifiers.isValidUser(user) else { throw .badRequest("\(user) is not a valid user id") }
        guard user != owner else { throw .badRequest("a list's owner cannot be one of its members") }
    }
}

// MARK: Operations on the owner's shard

/// Which of `users` exist; all of them are on one shard (the front groups them so).
public struct UsersExist: ShardOperation {
    public static let code = OperationCode.usersExist
    public var users: [String]
    public init(users: [String]) { self.users = users }
    public var key: ShardKey { .user(users.first ?? "") }
    public func encode(_ w: inout WireWriter) { w.writeStrings(users) }
    public init(from r: inout WireReader) throws { users = try r.readStrings() }
    public static func encode(reply: [String], _ w: inout WireWriter) { w.writeStrings(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> [String] { try r.readStrings() }
    /// The ones that do not exist.
    public func run(in context: ShardContext) throws -> [String] {
        var missing: [String] = []
        for user in users where try context.store.user(user) == nil { missing.append(user) }
        return missing
    }
}

/// A new list with its first members (checked by the front: valid, existing, not the owner).
public struct CreateList: ShardOperation {
    public static let code = OperationCode.createList
    public var owner: String
    public var name: String
    public var members: [String]
    public init(owner: String, name: String, members: [String]) {
        self.owner = owner
        self.name = name
        self.members = members
    }
    public var key: ShardKey { .user(owner) }
    public func encode(_ w: inout WireWriter) { w.writeString(owner); w.writeString(name); w.writeStrings(members) }
    public init(from r: inout WireReader) throws { self.init(owner: try r.readText(), name: try r.readText(), members: try r.readStrings()) }
    public static func encode(reply: String, _ w: inout WireWriter) { w.writeString(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> String { try r.readText() }

    public func run(in context: ShardContext) throws -> String {
        let store = context.store
        guard try store.listCount(owner: owner) < ListLimits.maxListsPerOwner else {
            throw ChatError(.conflict, "at most \(ListLimits.maxListsPerOwner) lists per user")
        }
        guard members.count <= ListLimits.maxMembersPerRequest else { throw ChatError(.tooLarge, "too many members") }
        let id = context.newID("lst_")
        try store.insertList(owner: owner, listID: id, name: name, size: Int64(members.count), now: context.now)
        for member in members { try store.insertListMember(listID: id, member: member, version: 1) }
        return id
    }
}

/// Adds members (idempotent: members already in are left as they are); 409 past the bound.
public struct AddListMembers: ShardOperation {
    public static let code = OperationCode.addListMembers
    public var owner: String
    public var listID: String
    public var members: [String]
    public init(owner: String, listID: String, members: [String]) {
        self.owner = owner
        self.listID = listID
        self.members = members
    }
    public var key: ShardKey { .user(owner) }
    public func encode(_ w: inout WireWriter) { w.writeString(owner); w.writeString(listID); w.writeStrings(members) }
    public init(from r: inout WireReader) throws { self.init(owner: try r.readText(), listID: try r.readText(), members: try r.readStrings()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        guard let list = try store.list(owner: owner, listID: listID) else { throw ListErrors.notFound(listID) }
        var new: [String] = []
        for member in Set(members).sorted() where try !store.isListMember(listID: listID, member: member) { new.append(member) }
        guard !new.isEmpty else { return Done() }
        guard list.size + Int64(new.count) <= Int64(ListLimits.maxMembers) else {
            throw ChatError(.conflict, "a list holds at most \(ListLimits.maxMembers) members (it has \(list.size))")
        }
        let version = list.version + 1
        for member in new { try store.insertListMember(listID: listID, member: member, version: version) }
        try store.updateList(owner: owner, listID: listID, size: list.size + Int64(new.count), version: version)
        try store.dropListTombstonesIfIdle(listID: listID)
        return Done()
    }
}

/// Removes a member (idempotent).
public struct RemoveListMember: ShardOperation {
    public static let code = OperationCode.removeListMember
    public var owner: String
    public var listID: String
    public var member: String
    public init(owner: String, listID: String, member: String) {
        self.owner = owner
        self.listID = listID
        self.member = member
    }
    public var key: ShardKey { .user(owner) }
    public func encode(_ w: inout WireWriter) { w.writeString(owner); w.writeString(listID); w.writeString(member) }
    public init(from r: inout WireReader) throws { self.init(owner: try r.readText(), listID: try r.readText(), member: try r.readText()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        guard let list = try store.list(owner: owner, listID: listID) else { throw ListErrors.notFound(listID) }
        guard try store.isListMember(listID: listID, member: member) else { return Done() }
        let version = list.version + 1
        // A mass message still sending reads the membership of its own version: the row
        // stays (as removed at `version`) until no job of the list is left.
        try store.removeListMember(listID: listID, member: member, version: version, keepTombstone: try store.hasListJobs(listID: listID))
        try store.updateList(owner: owner, listID: listID, size: list.size - 1, version: version)
        try store.dropListTombstonesIfIdle(listID: listID)
        return Done()
    }
}

/// The owner's lists, by id.
public struct ListsOf: ShardOperation {
    public static let code = OperationCode.listsOf
    public var owner: String
    public init(owner: String) { self.owner = owner }
    public var key: ShardKey { .user(owner) }
    public func encode(_ w: inout WireWriter) { w.writeString(owner) }
    public init(from r: inout WireReader) throws { owner = try r.readText() }
    public static func encode(reply: [ListSummary], _ w: inout WireWriter) {
        w.writeList(reply) { s, w in w.writeString(s.listID); w.writeString(s.name); w.writeInt(s.size) }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> [ListSummary] {
        try r.readList(minBytes: 16) { ListSummary(listID: try $0.readText(), name: try $0.readText(), size: try $0.readInt()) }
    }
    public func run(in context: ShardContext) throws -> [ListSummary] { try context.store.lists(owner: owner) }
}

/// One list with its members (in byte order).
public struct ListDetail: ShardOperation {
    public static let code = OperationCode.listDetail
    public struct Detail: Sendable, Equatable {
        public var name: String
        public var members: [String]
    }
    public var owner: String
    public var listID: String
    public init(owner: String, listID: String) {
        self.owner = owner
        self.listID = listID
    }
    public var key: ShardKey { .user(owner) }
    public func encode(_ w: inout WireWriter) { w.writeString(owner); w.writeString(listID) }
    public init(from r: inout WireReader) throws { self.init(owner: try r.readText(), listID: try r.readText()) }
    public static func encode(reply: Detail, _ w: inout WireWriter) { w.writeString(reply.name); w.writeStrings(reply.members) }
    public static func decodeReply(_ r: inout WireReader) throws -> Detail { Detail(name: try r.readText(), members: try r.readStrings()) }
    public func run(in context: ShardContext) throws -> Detail {
        guard let list = try context.store.list(owner: owner, listID: listID) else { throw ListErrors.notFound(listID) }
        return Detail(name: list.name, members: try context.store.liveListMembers(listID: listID))
    }
}

/// The next members of a list as it was at `version`, after `after`, in byte order: a
/// mass message's next batch.
public struct ListMembersPage: ShardOperation {
    public static let code = OperationCode.listMembersPage
    public var owner: String
    public var listID: String
    public var version: Int64
    public var after: String
    public var limit: Int
    public init(owner: String, listID: String, version: Int64, after: String, limit: Int) {
        self.owner = owner
        self.listID = listID
        self.version = version
        self.after = after
        self.limit = limit
    }
    public var key: ShardKey { .user(owner) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(owner); w.writeString(listID); w.writeInt(version); w.writeString(after); w.writeU32(UInt32(clamping: limit))
    }
    public init(from r: inout WireReader) throws {
        self.init(owner: try r.readText(), listID: try r.readText(), version: try r.readInt(), after: try r.readText(),
                  limit: Int(try r.readU32()))
    }
    public static func encode(reply: [String], _ w: inout WireWriter) { w.writeStrings(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> [String] { try r.readStrings() }
    public func run(in context: ShardContext) throws -> [String] {
        try context.store.listMembers(listID: listID, atVersion: version, after: after, limit: max(1, min(limit, 10_000)))
    }
}

/// Records a mass message and its job (idempotent on the client_id: a repeat answers the
/// first's recipient count and starts nothing); answers the recipient count.
public struct CreateListMessage: ShardOperation {
    public static let code = OperationCode.createListMessage
    public var owner: String
    public var listID: String
    public var clientID: String
    public var kind: MessageKind
    public var body: String
    /// Assets the owner may read (the front checked), carried by every recipient's copy.
    public var attachments: [String]
    public init(owner: String, listID: String, clientID: String, kind: MessageKind, body: String, attachments: [String] = []) {
        self.owner = owner
        self.listID = listID
        self.clientID = clientID
        self.kind = kind
        self.body = body
        self.attachments = attachments
    }
    public var key: ShardKey { .user(owner) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(owner); w.writeString(listID); w.writeString(clientID); w.writeString(kind.rawValue); w.writeString(body)
        w.writeStrings(attachments)
    }
    public init(from r: inout WireReader) throws {
        let owner = try r.readText(), listID = try r.readText(), clientID = try r.readText()
        guard let kind = MessageKind(rawValue: try r.readText()) else { throw ShardCodecError("unknown message kind") }
        self.init(owner: owner, listID: listID, clientID: clientID, kind: kind, body: try r.readText(), attachments: try r.readStrings())
    }
    public static func encode(reply: Int64, _ w: inout WireWriter) { w.writeInt(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Int64 { try r.readInt() }

    public func run(in context: ShardContext) throws -> Int64 {
        let store = context.store
        guard let list = try store.list(owner: owner, listID: listID) else { throw ListErrors.notFound(listID) }
        if let first = try store.listMessage(listID: listID, clientID: clientID) { return first.recipients }
        try store.insertListMessage(listID: listID, clientID: clientID, recipients: list.size, version: list.version, now: context.now)
        let job = ListMessageJob(owner: owner, listID: listID, clientID: clientID, version: list.version, kind: kind, body: body,
                                 attachments: attachments)
        try context.enqueue(job, id: job.id, origin: key)
        return list.size
    }
}

/// A mass message's progress: done counts every recipient whose send is finished (those
/// who block the owner too: the message was accepted and hidden from them).
public struct ListMessageProgress: ShardOperation {
    public static let code = OperationCode.listMessageProgress
    public var owner: String
    public var listID: String
    public var clientID: String
    public init(owner: String, listID: String, clientID: String) {
        self.owner = owner
        self.listID = listID
        self.clientID = clientID
    }
    public var key: ShardKey { .user(owner) }
    public func encode(_ w: inout WireWriter) { w.writeString(owner); w.writeString(listID); w.writeString(clientID) }
    public init(from r: inout WireReader) throws { self.init(owner: try r.readText(), listID: try r.readText(), clientID: try r.readText()) }
    public static func encode(reply: ListMessageStatus, _ w: inout WireWriter) { w.writeInt(reply.recipients); w.writeInt(reply.done) }
    public static func decodeReply(_ r: inout WireReader) throws -> ListMessageStatus {
        ListMessageStatus(recipients: try r.readInt(), done: try r.readInt())
    }
    public func run(in context: ShardContext) throws -> ListMessageStatus {
        let store = context.store
        guard try store.list(owner: owner, listID: listID) != nil,
              let message = try store.listMessage(listID: listID, clientID: clientID) else {
            throw ChatError(.notFound, "no message \(clientID) to list \(listID)")
        }
        let jobID = ListMessageJob.id(listID: listID, clientID: clientID)
        guard let job = try store.job(jobID) else { return ListMessageStatus(recipients: message.recipients, done: message.recipients) }
        let done = job.progress.flatMap { try? ListMessageJob.Progress(bytes: $0) }?.done ?? 0
        return ListMessageStatus(recipients: message.recipients, done: min(done, message.recipients))
    }
}

enum ListErrors {
    static func notFound(_ listID: String) -> ChatError { ChatError(.notFound, "no list \(listID)") }
}

// MARK: The job

/// Sends a mass message to the list's members as they were at its POST, a batch at a time
/// (see the top of this file).
public struct ListMessageJob: OutboxJob {
    public static let kind = JobKind.listMessage
    public var owner: String
    public var listID: String
    public var clientID: String
    public var version: Int64
    public var kind: MessageKind
    public var body: String
    public var attachments: [String]

    /// Where a job stands: the last member reached (in byte order) and how many are done.
    public struct Progress: Sendable, Equatable {
        public var after: String
        public var done: Int64
        public init(after: String, done: Int64) {
            self.after = after
            self.done = done
        }
        public init(bytes: [UInt8]) throws {
            var r = WireReader(bytes)
            self.init(after: try r.readText(), done: try r.readInt())
        }
        public var bytes: [UInt8] {
            var w = WireWriter()
            w.writeString(after); w.writeInt(done)
            return w.bytes
        }
    }

    public init(owner: String, listID: String, clientID: String, version: Int64, kind: MessageKind, body: String,
                attachments: [String] = []) {
        self.owner = owner
        self.listID = listID
        self.clientID = clientID
        self.version = version
        self.kind = kind
        self.body = body
        self.attachments = attachments
    }

    public static func id(listID: String, clientID: String) -> String { "listmsg:\(listID):\(clientID)" }
    public var id: String { Self.id(listID: listID, clientID: clientID) }

    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        let owner = try r.readText(), listID = try r.readText(), clientID = try r.readText(), version = try r.readInt()
        guard let kind = MessageKind(rawValue: try r.readText()) else { throw ShardCodecError("unknown message kind") }
        self.init(owner: owner, listID: listID, clientID: clientID, version: version, kind: kind, body: try r.readText(),
                  attachments: try r.readStrings())
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        w.writeString(owner); w.writeString(listID); w.writeString(clientID); w.writeInt(version); w.writeString(kind.rawValue)
        w.writeString(body); w.writeStrings(attachments)
        return w.bytes
    }

    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        let at = progress.flatMap { try? Progress(bytes: $0) } ?? Progress(after: "", done: 0)
        let page = ListMembersPage(owner: owner, listID: listID, version: version, after: at.after, limit: ListLimits.batchSize)
        context.router.call(page) { result in
            switch result {
            case .failure(let error): done(.failed(error))
            case .success(let members):
                guard let last = members.last else { return done(.finished) }
                ListBatch(job: self, members: members, router: context.router) { failure in
                    if let failure { return done(.failed(failure)) }
                    done(.progressed(Progress(after: last, done: at.done + Int64(members.count)).bytes))
                }.start()
            }
        }
    }

    /// One recipient: the direct chat opened if needed, then the send (both idempotent).
    func deliver(to member: String, router: ShardRouter, done: @escaping (ChatError?) -> Void) {
        let conversationID = Identifiers.directConversation(owner, member)
        router.call(OpenDirect(conversationID: conversationID)) { [self] opened in
            if case .failure(let error) = opened { return done(error) }
            let send = SendMessage(NewMessage(
                conversationID: conversationID, sender: owner,
                clientID: ListMessageCommand.recipientClientID(listID: listID, clientID: clientID),
                kind: kind, body: body, attachments: attachments, tip: nil, origin: nil))
            router.call(send) { result in
                if case .failure(let error) = result { return done(error) }
                done(nil)
            }
        }
    }
}

/// A batch of a job's sends, at most `sendsInFlight` at once. Ends with the first error
/// that a retry could cure (the whole batch runs again: its sends are idempotent); any
/// other refusal of one recipient is final for that recipient and does not hold up the rest.
final class ListBatch {
    let job: ListMessageJob
    let members: [String]
    let router: ShardRouter
    let finish: (ChatError?) -> Void
    private var next = 0
    private var inFlight = 0
    private var failure: ChatError?
    private var finished = false

    init(job: ListMessageJob, members: [String], router: ShardRouter, finish: @escaping (ChatError?) -> Void) {
        self.job = job
        self.members = members
        self.router = router
        self.finish = finish
    }

    func start() { launch() }

    private func launch() {
        while failure == nil, inFlight < ListLimits.sendsInFlight, next < members.count {
            let member = members[next]
            next += 1
            inFlight += 1
            job.deliver(to: member, router: router) { [self] error in
                inFlight -= 1
                if let error, error.code == .unavailable || error.code == .rateLimited { failure = failure ?? error }
                launch()
            }
        }
        if inFlight == 0, failure != nil || next == members.count, !finished {
            finished = true
            finish(failure)
        }
    }
}
