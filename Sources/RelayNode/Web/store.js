// The client's cache in IndexedDB, one database per user: messages by (conversation, seq),
// conversation summaries, and the outbox of sends not yet acked. A reload shows the cache at
// once; only what is missing is fetched.

function req(r) {
  return new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
}

export class Store {
  static async open(user) {
    const open = indexedDB.open(`relay-${user}`, 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      db.createObjectStore("messages", { keyPath: ["conversation_id", "seq"] });
      db.createObjectStore("conversations", { keyPath: "conversation_id" });
      db.createObjectStore("outbox", { keyPath: "client_id" });
    };
    const s = new Store();
    s.db = await req(open);
    return s;
  }

  tx(names, mode = "readonly") { return this.db.transaction(names, mode); }

  async putMessages(list) {
    if (!list.length) return;
    const t = this.tx(["messages"], "readwrite");
    for (const m of list) t.objectStore("messages").put(m);
    await new Promise((resolve, reject) => { t.oncomplete = resolve; t.onerror = () => reject(t.error); });
  }

  // The newest `limit` cached messages of a conversation at or below `beforeSeq`, oldest first.
  async messages(conversationID, beforeSeq = Number.MAX_SAFE_INTEGER, limit = 50) {
    const range = IDBKeyRange.bound([conversationID, 0], [conversationID, beforeSeq]);
    const out = [];
    const cursor = this.tx(["messages"]).objectStore("messages").openCursor(range, "prev");
    await new Promise((resolve, reject) => {
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c || out.length >= limit) return resolve();
        out.push(c.value);
        c.continue();
      };
      cursor.onerror = () => reject(cursor.error);
    });
    return out.reverse();
  }

  async putConversations(list) {
    const t = this.tx(["conversations"], "readwrite");
    for (const c of list) t.objectStore("conversations").put(c);
    await new Promise(resolve => { t.oncomplete = resolve; });
  }

  async conversations() { return req(this.tx(["conversations"]).objectStore("conversations").getAll()); }

  async queue(send) { return req(this.tx(["outbox"], "readwrite").objectStore("outbox").put(send)); }
  async unqueue(clientID) { return req(this.tx(["outbox"], "readwrite").objectStore("outbox").delete(clientID)); }
  async outbox() { return req(this.tx(["outbox"]).objectStore("outbox").getAll()); }
}
