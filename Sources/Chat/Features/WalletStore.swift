import Store

// The SQL of Wallet.swift: the `wallets`, `charges` and `wallet_entries` tables (shard
// schema version 7) and the sessions of one user.
extension ShardStore {
    func wallet(user: String) throws(StoreError) -> Wallet? {
        guard let row = try db.queryOne("SELECT balance_cents, received_cents, currency FROM wallets WHERE user=?", .text(user))
        else { return nil }
        return Wallet(balanceCents: row.int(0) ?? 0, receivedCents: row.int(1) ?? 0, currency: row.text(2) ?? "USD")
    }

    func setWallet(user: String, _ wallet: Wallet) throws(StoreError) {
        try write("""
            INSERT INTO wallets(user, balance_cents, received_cents, currency) VALUES(?,?,?,?)
            ON CONFLICT(user) DO UPDATE SET balance_cents=excluded.balance_cents, received_cents=excluded.received_cents,
                currency=excluded.currency
            """, .text(user), .int(wallet.balanceCents), .int(wallet.receivedCents), .text(wallet.currency))
    }

    /// The recorded charge of (user, client_id): its outcome, and what and whom it was for.
    func charge(user: String, clientID: String) throws(StoreError) -> (outcome: ChargeOutcome, tip: Tip, recipient: String)? {
        guard let row = try db.queryOne("SELECT status, amount_cents, currency, recipient FROM charges WHERE user=? AND client_id=?",
                                        .text(user), .text(clientID)),
              let outcome = row.text(0).flatMap(ChargeOutcome.init(rawValue:)) else { return nil }
        return (outcome, Tip(amountCents: row.int(1) ?? 0, currency: row.text(2) ?? ""), row.text(3) ?? "")
    }

    func recordCharge(user: String, clientID: String, outcome: ChargeOutcome, tip: Tip, recipient: String,
                      now: Int64) throws(StoreError) {
        try write("""
            INSERT INTO charges(user, client_id, status, amount_cents, currency, recipient, at) VALUES(?,?,?,?,?,?,?)
            """, .text(user), .text(clientID), .text(outcome.rawValue), .int(tip.amountCents), .text(tip.currency),
                  .text(recipient), .int(now))
    }

    func walletEntry(user: String, entryID: String) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM wallet_entries WHERE user=? AND entry_id=?", .text(user), .text(entryID)) != nil
    }

    func insertWalletEntry(user: String, entryID: String, kind: String, amountCents: Int64, now: Int64) throws(StoreError) {
        try write("INSERT INTO wallet_entries(user, entry_id, kind, amount_cents, at) VALUES(?,?,?,?,?)",
                  .text(user), .text(entryID), .text(kind), .int(amountCents), .int(now))
    }

    /// Deletes the user's sessions; answers their token hashes.
    func deleteSessions(user: String) throws(StoreError) -> [[UInt8]] {
        let hashes = try db.query("SELECT token_hash FROM sessions WHERE user=? ORDER BY token_hash", .text(user)).compactMap { $0.blob(0) }
        if !hashes.isEmpty { try write("DELETE FROM sessions WHERE user=?", .text(user)) }
        return hashes
    }
}
