// HTTP to the cluster, with failover: every node serves every request, so a call that cannot
// reach its node (or gets 503) is tried on the next live node. Nodes come from /v1/cluster.

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "network";
    this.retryAfterMs = e.retry_after_ms;
    this.billingUrl = e.billing_url;
  }
}

export class Api {
  constructor() {
    this.nodes = [location.origin];     // base URLs, the current one first
    this.token = null;
    this.onNodes = () => {};
  }

  get base() { return this.nodes[0]; }

  // Learns the cluster's client addresses; the node that served the page stays first.
  async refreshNodes() {
    try {
      const status = await this.call("GET", "/v1/cluster", null, { auth: false, failover: false });
      const live = (status.members || []).filter(m => m.client && m.state === "alive")
        .map(m => `${location.protocol}//${m.client}`);
      const ordered = [this.base, ...live.filter(u => u !== this.base)];
      this.nodes = [...new Set(ordered)];
      this.onNodes(this.nodes);
    } catch (_) { /* keep what we know */ }
  }

  // Moves to the next node (after a failure of the current one); returns its base URL.
  rotate() {
    if (this.nodes.length > 1) this.nodes.push(this.nodes.shift());
    return this.base;
  }

  async call(method, path, body, { auth = true, failover = true, raw = false, headers = {} } = {}) {
    const tries = failover ? Math.max(3, this.nodes.length * 2) : 1;
    let last;
    for (let attempt = 0; attempt < tries; attempt++) {
      const h = { ...headers };
      if (auth && this.token) h["Authorization"] = `Bearer ${this.token}`;
      let init = { method, headers: h };
      if (body !== null && body !== undefined) {
        if (raw) init.body = body;
        else { h["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
      }
      let res;
      try {
        res = await fetch(this.base + path, init);
      } catch (err) {
        last = new ApiError(0, { error: { code: "network", message: `${this.base} unreachable` } });
        if (failover) { this.rotate(); continue; }
        throw last;
      }
      if (res.status === 204) return null;
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
      if (res.ok) return json;
      last = new ApiError(res.status, json);
      if (res.status === 503 && failover) {
        await new Promise(r => setTimeout(r, Math.min(last.retryAfterMs || 300, 2000)));
        if (attempt % 2 === 1) this.rotate();
        continue;
      }
      throw last;
    }
    throw last;
  }

  // Uploads a file with progress (fetch has no upload progress); resolves to the asset.
  upload(file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.base + "/v1/assets");
      xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      xhr.upload.onprogress = e => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = () => {
        let json = null;
        try { json = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status === 201) resolve(json); else reject(new ApiError(xhr.status, json));
      };
      xhr.onerror = () => reject(new ApiError(0, { error: { message: "upload failed: node unreachable" } }));
      xhr.send(file);
    });
  }

  // An asset as an object URL (images and videos need the bearer token, which <img> cannot send).
  async assetURL(id) {
    for (let attempt = 0; attempt < Math.max(2, this.nodes.length); attempt++) {
      try {
        const res = await fetch(`${this.base}/v1/assets/${encodeURIComponent(id)}`,
          { headers: { Authorization: `Bearer ${this.token}` } });
        if (!res.ok) throw new ApiError(res.status, null);
        return URL.createObjectURL(await res.blob());
      } catch (err) {
        if (err instanceof ApiError && err.status !== 503) throw err;
        this.rotate();
      }
    }
    throw new ApiError(0, null);
  }

  wsURL(device) {
    const u = new URL(this.base);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.pathname = "/v1/ws";
    u.search = `?token=${encodeURIComponent(this.token)}&device=${encodeURIComponent(device)}`;
    return u.toString();
  }
}
