// The chat state the views draw: conversations, the messages held of each (by seq, so a
// message is never shown twice and always in order), other members' cursors, presence and
// typing. It talks to the server through the Api and the Socket and keeps the Store current.

export class Chat {
  constructor(api, store, me) {
    this.api = api;
    this.store = store;
    this.me = me;
    this.convs = new Map();     // id -> summary {conversation_id, kind, title, last_seq, delivered, read, unread, last}
    this.msgs = new Map();      // id -> Map(seq -> message)
    this.local = new Map();     // id -> [unacked sends, shown as "sending"]
    this.cursors = new Map();   // id -> Map(user -> {delivered, read})
    this.presence = new Map();  // user -> {online, last_seen}
    this.typing = new Map();    // id -> Map(user -> until ms)
    this.openID = null;
    this.listeners = new Set();
  }

  on(fn) { this.listeners.add(fn); }
  changed(what) { for (const fn of this.listeners) fn(what); }

  // The cache first (a reload shows the chat at once), then the server.
  async loadCache() {
    for (const c of await this.store.conversations()) {
      this.convs.set(c.conversation_id, c);
      if (c.cursors) this.cursors.set(c.conversation_id, new Map(Object.entries(c.cursors)));
      for (const m of await this.store.messages(c.conversation_id, Number.MAX_SAFE_INTEGER, 30)) this.hold(m);
    }
    for (const s of await this.store.outbox()) this.showLocal(s);
    this.changed("all");
  }

  async refreshConversations() {
    const { conversations } = await this.api.call("GET", "/v1/conversations");
    for (const c of conversations) this.merge(c);
    await this.persistConversations();
    this.changed("list");
    // Presence of direct-chat partners not known yet (events keep it current after that).
    const partners = conversations.filter(c => c.conversation_id.startsWith("dm:")).map(c => this.partner(c.conversation_id))
      .filter(u => !this.presence.has(u)).slice(0, 50);
    for (const u of partners) this.loadPresence(u);
    // The last message of conversations the cache has none of (for the list's preview).
    const bare = conversations.filter(c => c.last_seq > 0 && !this.convs.get(c.conversation_id).last).slice(0, 30);
    for (const c of bare) {
      this.api.call("GET", `/v1/conversations/${encodeURIComponent(c.conversation_id)}/messages?limit=1`)
        .then(page => { for (const m of page.messages) this.hold(m); this.changed("list"); }).catch(() => {});
    }
  }

  merge(summary) {
    const old = this.convs.get(summary.conversation_id) || {};
    this.convs.set(summary.conversation_id, { ...old, ...summary });
  }

  async persistConversations() {
    const list = [...this.convs.values()].map(c => ({
      ...c, cursors: Object.fromEntries(this.cursors.get(c.conversation_id) || []) }));
    await this.store.putConversations(list);
  }

  title(id) {
    const c = this.convs.get(id);
    if (id.startsWith("dm:")) return this.partner(id);
    return (c && c.title) || id;
  }

  partner(id) {
    const [, a, b] = id.split(":");
    return a === this.me ? b : a;
  }

  hold(m) {
    let map = this.msgs.get(m.conversation_id);
    if (!map) { map = new Map(); this.msgs.set(m.conversation_id, map); }
    const isNew = !map.has(m.seq);
    map.set(m.seq, m);
    const c = this.convs.get(m.conversation_id);
    if (c && (!c.last || c.last.seq <= m.seq)) c.last = m;
    return isNew;
  }

  // Messages of a conversation in seq order, then the local ones not yet acked.
  timeline(id) {
    const held = [...(this.msgs.get(id) || new Map()).values()].sort((a, b) => a.seq - b.seq);
    return { held, sending: this.local.get(id) || [] };
  }

  // A stored message from the server (live, backlog, sync or history).
  async received(m, { live = false } = {}) {
    const isNew = this.hold(m);
    let c = this.convs.get(m.conversation_id);
    if (!c) {
      c = { conversation_id: m.conversation_id, kind: m.conversation_id.startsWith("dm:") ? "direct" : "group",
            title: "", last_seq: 0, delivered: 0, read: 0, unread: 0, last: m };
      this.convs.set(m.conversation_id, c);
      this.refreshConversations().catch(() => {});
    }
    if (m.seq > c.last_seq) {
      if (m.sender !== this.me && this.openID !== m.conversation_id) c.unread = (c.unread || 0) + 1;
      c.last_seq = m.seq;
    }
    // A send of ours seen back (another device's, or ours before the ack): no "sending" copy.
    this.dropLocal(m.conversation_id, m.client_id, m.sender);
    if (isNew) await this.store.putMessages([m]);
    if (live) this.acknowledge(m.conversation_id);
    this.changed(m.conversation_id);
  }

  showLocal(send) {
    const list = this.local.get(send.conversation_id) || [];
    if (!list.some(s => s.client_id === send.client_id)) list.push(send);
    this.local.set(send.conversation_id, list);
  }

  dropLocal(id, clientID, sender) {
    if (sender !== this.me) return;
    const list = this.local.get(id);
    if (!list) return;
    const rest = list.filter(s => s.client_id !== clientID);
    if (rest.length !== list.length) { this.local.set(id, rest); this.store.unqueue(clientID); }
  }

  // Tells the server what this device got and, for the open conversation, what was read.
  acknowledge(id) {
    const c = this.convs.get(id);
    if (!c || !this.socket) return;
    const top = c.last_seq;
    const read = this.openID === id && document.visibilityState === "visible" ? top : undefined;
    if (top > (c.delivered || 0) || (read !== undefined && read > (c.read || 0))) {
      c.delivered = Math.max(c.delivered || 0, top);
      if (read !== undefined) { c.read = read; c.unread = 0; }
      this.socket.receipt(id, c.delivered, read);
      this.changed("list");
    }
  }

  // For `sync`: the newest seq held of each conversation.
  since() {
    const out = {};
    for (const [id, map] of this.msgs) {
      let top = 0;
      for (const seq of map.keys()) top = Math.max(top, seq);
      if (top > 0) out[id] = top;
    }
    return out;
  }

  hello(ev) {
    for (const c of ev.conversations) this.merge(c);
    this.changed("list");
    this.refreshConversations().catch(() => {});
  }

  receipt(ev) {
    let map = this.cursors.get(ev.conversation_id);
    if (!map) { map = new Map(); this.cursors.set(ev.conversation_id, map); }
    if (ev.user === this.me) {
      const c = this.convs.get(ev.conversation_id);
      if (c) { c.read = Math.max(c.read || 0, ev.read || 0); if (c.read >= c.last_seq) c.unread = 0; }
    } else {
      map.set(ev.user, { delivered: ev.delivered, read: ev.read });
    }
    this.persistConversations();
    this.changed(ev.conversation_id);
  }

  // ✓ stored, ✓✓ delivered to someone, read (blue) when someone read it.
  tick(m) {
    const map = this.cursors.get(m.conversation_id);
    let delivered = false, read = false;
    for (const cur of (map || new Map()).values()) {
      if ((cur.delivered || 0) >= m.seq) delivered = true;
      if ((cur.read || 0) >= m.seq) read = true;
    }
    return read ? "read" : delivered ? "delivered" : "sent";
  }

  typed(ev) {
    if (ev.user === this.me) return;
    let map = this.typing.get(ev.conversation_id);
    if (!map) { map = new Map(); this.typing.set(ev.conversation_id, map); }
    map.set(ev.user, Date.now() + 4000);
    this.changed(ev.conversation_id);
    setTimeout(() => this.changed(ev.conversation_id), 4100);
  }

  typers(id) {
    const now = Date.now();
    return [...(this.typing.get(id) || new Map())].filter(([, until]) => until > now).map(([u]) => u);
  }

  presenceEvent(ev) {
    this.presence.set(ev.user, { online: ev.online, last_seen: ev.last_seen });
    this.changed("presence");
  }

  async loadPresence(user) {
    try {
      const p = await this.api.call("GET", `/v1/users/${encodeURIComponent(user)}/presence`);
      this.presence.set(user, p);
      this.changed("presence");
    } catch (_) { /* unknown or hidden */ }
  }

  // Older messages for scrolling up: the cache first, then the server.
  async loadOlder(id) {
    const map = this.msgs.get(id) || new Map();
    const lowest = map.size ? Math.min(...map.keys()) : (this.convs.get(id)?.last_seq || 0) + 1;
    if (lowest <= 1) return false;
    let got = await this.store.messages(id, lowest - 1, 50);
    if (got.length === 0 || got[got.length - 1].seq !== lowest - 1) {
      const page = await this.api.call("GET", `/v1/conversations/${encodeURIComponent(id)}/messages?before=${lowest}&limit=50`);
      got = page.messages;
      await this.store.putMessages(got);
    }
    for (const m of got) this.hold(m);
    this.changed(id);
    return got.length > 0;
  }

  // Fills any gap between what is held and the conversation's last seq.
  async catchUp(id) {
    const c = this.convs.get(id);
    const map = this.msgs.get(id) || new Map();
    const top = map.size ? Math.max(...map.keys()) : 0;
    if (!c || top >= c.last_seq) return;
    const page = await this.api.call("GET", `/v1/conversations/${encodeURIComponent(id)}/messages?after=${top}&limit=100`);
    for (const m of page.messages) await this.received(m);
  }

  async send(fields) {
    const client_id = `w-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const send = { client_id, conversation_id: fields.conversation_id, kind: fields.kind || "text", body: fields.body || "",
                   ts: Date.now(), ...fields };
    const frame = { client_id, kind: send.kind, body: send.body };
    if (fields.to) frame.to = fields.to; else frame.conversation_id = fields.conversation_id;
    for (const k of ["attachments", "tip", "width", "height"]) if (fields[k] !== undefined) frame[k] = fields[k];
    this.showLocal(send);
    await this.store.queue(send);
    this.changed(send.conversation_id);
    try {
      const ack = await this.socket.send(frame);
      // The sending connection gets the ack, not the message: it is built from the two.
      const stored = { conversation_id: ack.conversation_id, seq: ack.seq, message_id: ack.message_id, sender: this.me,
                       client_id, ts: ack.ts, kind: frame.kind, body: frame.body, attachments: frame.attachments || [],
                       tip: frame.tip || null };
      if (frame.width) { stored.width = frame.width; stored.height = frame.height; }
      if (!fields.conversation_id || fields.conversation_id !== ack.conversation_id) this.dropLocal(send.conversation_id, client_id, this.me);
      await this.received(stored);
      await this.catchUp(ack.conversation_id);
      return ack;
    } catch (err) {
      this.dropLocal(send.conversation_id, client_id, this.me);
      this.changed(send.conversation_id);
      throw err;
    }
  }
}
