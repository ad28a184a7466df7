import Store

// The SQL of the key directory (Keys.swift), tables in schema 11. `used` marks a handed-out
// one-time prekey; a used one is kept (the newest `KeyLimits.usedPrekeysKept` per device) so
// a retried upload cannot bring it back.

extension ShardStore {
    func identityKey(user: String, device: String) throws(StoreError) -> String? {
        try db.queryOne("SELECT identity_key FROM device_keys WHERE user=? AND device=?", .text(user), .text(device))?.text(0)
    }

    func devicesWithKeys(user: String) throws(StoreError) -> Int {
        Int(try db.queryOne("SELECT count(*) FROM device_keys WHERE user=?", .text(user))?.int(0) ?? 0)
    }

    func putIdentity(user: String, device: String, identityKey: String, signedPrekey: String, now: Int64) throws(StoreError) {
        try write("""
            INSERT INTO device_keys(user, device, identity_key, signed_prekey, updated_at) VALUES(?,?,?,?,?)
            ON CONFLICT(user, device) DO UPDATE SET identity_key=excluded.identity_key,
                signed_prekey=excluded.signed_prekey, updated_at=excluded.updated_at
            """, .text(user), .text(device), .text(identityKey), .text(signedPrekey), .int(now))
    }

    func deletePrekeys(user: String, device: String) throws(StoreError) {
        try write("DELETE FROM one_time_prekeys WHERE user=? AND device=?", .text(user), .text(device))
    }

    func hasPrekey(user: String, device: String, prekey: String) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM one_time_prekeys WHERE user=? AND device=? AND prekey=?",
                        .text(user), .text(device), .text(prekey)) != nil
    }

    func unusedPrekeys(user: String, device: String) throws(StoreError) -> Int {
        Int(try db.queryOne("SELECT count(*) FROM one_time_prekeys WHERE user=? AND device=? AND used=0",
                            .text(user), .text(device))?.int(0) ?? 0)
    }

    func addPrekeys(user: String, device: String, _ prekeys: [String]) throws(StoreError) {
        guard !prekeys.isEmpty else { return }
        var next = (try db.queryOne("SELECT max(id) FROM one_time_prekeys WHERE user=? AND device=?",
                                    .text(user), .text(device))?.int(0) ?? 0) + 1
        for prekey in prekeys {
            try write("INSERT INTO one_time_prekeys(user, device, id, prekey, used) VALUES(?,?,?,?,0)",
                      .text(user), .text(device), .int(next), .text(prekey))
            next += 1
        }
    }

    func identities(user: String) throws(StoreError) -> [KeyBundle] {
        try db.query("SELECT device, identity_key, signed_prekey FROM device_keys WHERE user=? ORDER BY device", .text(user)).map {
            KeyBundle(device: $0.text(0) ?? "", identityKey: $0.text(1) ?? "", signedPrekey: $0.text(2) ?? "", oneTimePrekey: nil)
        }
    }

    /// Marks the device's oldest unused prekey used and returns it; forgets used ones past
    /// the kept number.
    func takePrekey(user: String, device: String) throws(StoreError) -> String? {
        guard let row = try db.queryOne("SELECT id, prekey FROM one_time_prekeys WHERE user=? AND device=? AND used=0 ORDER BY id LIMIT 1",
                                        .text(user), .text(device)),
              let id = row.int(0), let prekey = row.text(1) else { return nil }
        try write("UPDATE one_time_prekeys SET used=1 WHERE user=? AND device=? AND id=?", .text(user), .text(device), .int(id))
        try write("""
            DELETE FROM one_time_prekeys WHERE user=? AND device=? AND used=1 AND id <= ?
            """, .text(user), .text(device), .int(id - Int64(KeyLimits.usedPrekeysKept)))
        return prekey
    }

    /// A revoked device's keys go with it.
    func deleteKeys(user: String, device: String) throws(StoreError) {
        try write("DELETE FROM device_keys WHERE user=? AND device=?", .text(user), .text(device))
        try deletePrekeys(user: user, device: device)
    }
}
