// The live connection: one WebSocket to one node at a time. When it drops (the node died or
// the network blinked) it reconnects, to the next node if this one fails, then asks for what
// it missed with `sync` and resends every unacked send with its original client_id, which the
// server deduplicates. Handlers get events in the order the server sent them.

export class Socket {
  constructor(api, device, handlers) {
    this.api = api;
    this.device = device;
    this.handlers = handlers;        // {hello, message, receipt, typing, presence, synced, status}
    this.pending = new Map();        // client_id -> {frame, resolve, reject}
    this.ws = null;
    this.live = false;
    this.closedByUs = false;
    this.failures = 0;
  }

  connect() {
    this.closedByUs = false;
    const url = this.api.wsURL(this.device);
    const ws = new WebSocket(url);
    this.ws = ws;
    this.handlers.status(`connecting to ${new URL(this.api.base).host}`);
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = e => this.receive(JSON.parse(e.data));
    ws.onclose = ev => {
      if (this.ws !== ws) return;
      this.live = false;
      clearInterval(this.pinger);
      if (this.closedByUs) return;
      if (ev.code === 1008 || ev.code === 4401) { this.handlers.status("signed out"); this.handlers.unauthorized?.(); return; }
      this.failures += 1;
      // A node that refused or dropped us: the next one, after a short, growing pause.
      if (!opened || this.failures > 1) this.api.rotate();
      const delay = Math.min(200 * 2 ** Math.min(this.failures, 5), 5000);
      this.handlers.status(`reconnecting in ${Math.round(delay / 100) / 10} s`);
      this.retry = setTimeout(() => { this.api.refreshNodes(); this.connect(); }, delay);
    };
  }

  close() {
    this.closedByUs = true;
    clearTimeout(this.retry);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close();
  }

  frame(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  receive(ev) {
    switch (ev.type) {
      case "hello":
        this.failures = 0;
        this.live = true;
        this.lastPong = Date.now();
        clearInterval(this.pinger);
        this.pinger = setInterval(() => this.ping(), 15000);
        this.handlers.status(`connected to ${ev.node}`);
        this.handlers.hello(ev);
        break;
      case "synced":
        this.handlers.synced(ev);
        // After the backlog: what we may have missed, then every unacked send again.
        this.frame({ type: "sync", since: this.handlers.since() });
        for (const p of this.pending.values()) this.frame(p.frame);
        break;
      case "ack": {
        const p = this.pending.get(ev.client_id);
        if (p) { this.pending.delete(ev.client_id); p.resolve(ev); }
        break;
      }
      case "error": {
        const p = ev.client_id && this.pending.get(ev.client_id);
        if (p && ev.code === "unavailable") {
          setTimeout(() => this.frame(p.frame), Math.min(ev.retry_after_ms || 500, 3000));
        } else if (p) {
          this.pending.delete(ev.client_id);
          p.reject(ev);
        } else {
          this.handlers.error?.(ev);
        }
        break;
      }
      case "pong": this.lastPong = Date.now(); break;
      default: this.handlers[ev.type]?.(ev);
    }
  }

  ping() {
    if (Date.now() - this.lastPong > 35000) { this.ws.close(); return; }   // silent node: move on
    this.frame({ type: "ping" });
  }

  // Resolves with the ack; survives reconnects (the same client_id is sent again).
  send(fields) {
    const frame = { type: "send", ...fields };
    return new Promise((resolve, reject) => {
      this.pending.set(fields.client_id, { frame, resolve, reject });
      if (this.live) this.frame(frame);
    });
  }

  receipt(conversationID, delivered, read) {
    const f = { type: "receipt", conversation_id: conversationID };
    if (delivered !== undefined) f.delivered = delivered;
    if (read !== undefined) f.read = read;
    this.frame(f);
  }

  typing(conversationID) { this.frame({ type: "typing", conversation_id: conversationID }); }
}
