import Replication
import Store

/// The node's durable replication state, in `cluster.db` beside the shard files: its acceptor
/// slots for every shard's configuration register, the configs it knows committed, and its
/// ballot counter. An acceptor answers only after its slot is committed here.
public final class ConfigStore {
    let db: Database

    public init(path: String, durability: Durability) throws(StoreError) {
        db = try Database(path: path, durability: durability)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS slots(shard INTEGER PRIMARY KEY, promised_counter INTEGER NOT NULL,
              promised_node TEXT NOT NULL, accepted_counter INTEGER, accepted_node TEXT, epoch INTEGER, primary_node TEXT, isr TEXT);
            CREATE TABLE IF NOT EXISTS known(shard INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, primary_node TEXT NOT NULL, isr TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            """)
    }

    func loadAcceptor() throws(StoreError) -> ConfigAcceptor {
        var slots: [Int: ConfigAcceptor.Slot] = [:]
        for row in try db.query("SELECT shard, promised_counter, promised_node, accepted_counter, accepted_node, epoch, primary_node, isr FROM slots") {
            var slot = ConfigAcceptor.Slot()
            slot.promised = Ballot(counter: row.int(1) ?? 0, node: row.text(2) ?? "")
            if let counter = row.int(3), let node = row.text(4), let epoch = row.int(5), let primary = row.text(6), let isr = row.text(7) {
                slot.accepted = (Ballot(counter: counter, node: node), ShardConfig(epoch: epoch, primary: primary, isr: Self.split(isr)))
            }
            slots[Int(row.int(0) ?? 0)] = slot
        }
        return ConfigAcceptor(slots)
    }

    public func loadKnown() throws(StoreError) -> [Int: ShardConfig] {
        var known: [Int: ShardConfig] = [:]
        for row in try db.query("SELECT shard, epoch, primary_node, isr FROM known") {
            known[Int(row.int(0) ?? 0)] = ShardConfig(epoch: row.int(1) ?? 0, primary: row.text(2) ?? "", isr: Self.split(row.text(3) ?? ""))
        }
        return known
    }

    func loadBallotCounter() throws(StoreError) -> Int64 {
        try db.queryOne("SELECT value FROM meta WHERE key='ballot'")?.int(0) ?? 0
    }

    func saveSlot(_ shard: Int, _ slot: ConfigAcceptor.Slot) throws(StoreError) {
        let accepted = slot.accepted
        try db.run("INSERT OR REPLACE INTO slots VALUES(?,?,?,?,?,?,?,?)", .int(Int64(shard)),
                   .int(slot.promised.counter), .text(slot.promised.node),
                   accepted.map { .int($0.ballot.counter) } ?? .null, accepted.map { .text($0.ballot.node) } ?? .null,
                   accepted.map { .int($0.config.epoch) } ?? .null, accepted.map { .text($0.config.primary) } ?? .null,
                   accepted.map { .text($0.config.isr.joined(separator: ",")) } ?? .null)
    }

    func saveKnown(_ shard: Int, _ config: ShardConfig) throws(StoreError) {
        try db.run("INSERT OR REPLACE INTO known VALUES(?,?,?,?)", .int(Int64(shard)), .int(config.epoch),
                   .text(config.primary), .text(config.isr.joined(separator: ",")))
    }

    func saveBallotCounter(_ counter: Int64) throws(StoreError) {
        try db.run("INSERT OR REPLACE INTO meta VALUES('ballot', ?)", .int(counter))
    }

    static func split(_ list: String) -> [String] { list.split(separator: ",").map(String.init) }
}
