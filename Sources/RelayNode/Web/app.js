// The Relay web client: sign-in, then the conversation list and the chat view. Built on the
// client protocol alone (PROTOCOL.md); no build step, no third-party code.
import { Api, ApiError } from "./api.js";
import { Store } from "./store.js";
import { Socket } from "./socket.js";
import { Chat } from "./chat.js";
import { h, $, showDialog, when, describeSystem } from "./ui.js";
import * as panels from "./panels.js";

const api = new Api();
let chat = null, socket = null;

function device() {
  let d = localStorage.getItem("relay.device");
  if (!d) { d = "web-" + Math.random().toString(36).slice(2, 8); localStorage.setItem("relay.device", d); }
  return d;
}

// ---- Signing in --------------------------------------------------------------------------

async function authenticate(kind) {
  const user = $("#auth-user").value.trim(), password = $("#auth-password").value;
  $("#auth-error").textContent = "";
  try {
    const body = { user, password, device: device() };
    const res = await api.call("POST", kind === "signup" ? "/v1/signup" : "/v1/login", body, { auth: false });
    localStorage.setItem("relay.session", JSON.stringify({ user: res.user, token: res.token }));
    await start(res.user, res.token);
  } catch (err) {
    $("#auth-error").textContent = err.message;
  }
}

$("#auth-form").addEventListener("submit", e => { e.preventDefault(); authenticate("login"); });
$("#signup").addEventListener("click", () => {
  if ($("#auth-form").reportValidity()) authenticate("signup");
});
$("#logout").addEventListener("click", async () => {
  try { await api.call("POST", "/v1/logout"); } catch (_) { /* signed out anyway */ }
  signedOut();
});

function signedOut() {
  localStorage.removeItem("relay.session");
  if (socket) socket.close();
  location.hash = "";
  location.reload();
}

async function start(user, token) {
  api.token = token;
  await api.refreshNodes();
  chat = new Chat(api, await Store.open(user), user);
  window.relay = chat;   // for tests and the curious
  $("#auth").hidden = true;
  $("#app").hidden = false;
  $("#me").textContent = user;
  chat.on(what => render(what));
  await chat.loadCache();
  socket = new Socket(api, device(), {
    hello: ev => chat.hello(ev),
    message: ev => chat.received(stripType(ev), { live: true }),
    receipt: ev => chat.receipt(ev),
    typing: ev => chat.typed(ev),
    presence: ev => chat.presenceEvent(ev),
    synced: () => { for (const id of chat.convs.keys()) chat.acknowledge(id); },
    since: () => chat.since(),
    status: text => { $("#status").textContent = text; },
    unauthorized: signedOut,
    error: ev => { $("#chat-error").textContent = ev.message; },
  });
  chat.socket = socket;
  socket.connect();
  chat.refreshConversations().catch(err => { if (err.status === 401) signedOut(); });
  route();
}

function stripType(ev) { const { type, ...m } = ev; return m; }

// ---- The conversation list ---------------------------------------------------------------

function renderList() {
  const list = [...chat.convs.values()].sort((a, b) => ((b.last && b.last.ts) || 0) - ((a.last && a.last.ts) || 0));
  const ul = $("#conversations");
  ul.replaceChildren(...list.map(c => {
    const id = c.conversation_id;
    const partner = id.startsWith("dm:") ? chat.partner(id) : null;
    const online = partner && chat.presence.get(partner)?.online;
    const last = c.last ? `${c.last.sender === chat.me ? "You" : c.last.sender}: ${preview(c.last)}` : "";
    const li = h("li", { tabindex: "0", "aria-current": String(chat.openID === id), "data-id": id },
      h("span", {}, partner ? h("span", { class: "dot" + (online ? " on" : ""), title: online ? "online" : "offline" }) : "",
        chat.title(id)),
      c.unread ? h("span", { class: "unread", "aria-label": `${c.unread} unread` }, String(c.unread)) : h("span"),
      h("span", { class: "last" }, last));
    li.addEventListener("click", () => open(id));
    li.addEventListener("keydown", e => { if (e.key === "Enter") open(id); });
    return li;
  }));
}

function preview(m) {
  if (m.kind === "system") return describeSystem(m);
  if (m.kind === "ciphertext") return "🔒 encrypted";
  if (m.kind === "tip") return `tip ${(m.tip?.amount_cents || 0) / 100} ${m.tip?.currency || ""} ${m.body}`;
  if (m.kind !== "text") return `[${m.kind}] ${m.body}`;
  return m.body;
}

// ---- The chat view -----------------------------------------------------------------------

async function open(id) {
  chat.openID = id;
  location.hash = `#/c/${encodeURIComponent(id)}`;
  $("#app").classList.add("chatting");
  const c = chat.convs.get(id);
  if (c) c.unread = 0;
  renderAll();
  if (id.startsWith("dm:")) chat.loadPresence(chat.partner(id));
  try {
    if ((chat.msgs.get(id)?.size || 0) < 20) await chat.loadOlder(id);
    await chat.catchUp(id);
  } catch (err) { $("#chat-error").textContent = err.message; }
  chat.acknowledge(id);
  $("#text").focus();
}

let lastRendered = { id: null, count: 0 };

function renderChat() {
  const id = chat.openID;
  $("#chat").hidden = !id;
  if (!id) return;
  $("#chat-title").textContent = chat.title(id);
  const isDM = id.startsWith("dm:");
  $("#chat-block").hidden = !isDM;
  const partner = isDM ? chat.partner(id) : null;
  const p = partner && chat.presence.get(partner);
  $("#chat-sub").textContent = p ? (p.online ? "online" : p.last_seen ? `last seen ${when(p.last_seen)}` : "") : "";
  const { held, sending } = chat.timeline(id);
  const box = $("#messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const oldHeight = box.scrollHeight;
  box.replaceChildren(...held.map(m => messageItem(m)), ...sending.map(s => messageItem(s, true)));
  const count = held.length + sending.length;
  if (lastRendered.id !== id || atBottom) box.scrollTop = box.scrollHeight;
  else if (held.length && held[0].seq < (lastRendered.first || Infinity)) box.scrollTop = box.scrollHeight - oldHeight;
  lastRendered = { id, count, first: held.length ? held[0].seq : Infinity };
  const typers = chat.typers(id);
  $("#typing").textContent = typers.length ? `${typers.join(", ")} ${typers.length > 1 ? "are" : "is"} typing…` : "";
}

function messageItem(m, sending = false) {
  const mine = m.sender === chat.me || sending;
  const cls = [m.kind === "system" ? "system" : "", mine ? "mine" : "", sending ? "sending" : ""].join(" ").trim();
  const li = h("li", { class: cls, "data-seq": sending ? "" : String(m.seq) });
  if (m.kind === "system") { li.append(describeSystem(m)); return li; }
  if (!mine && !chat.openID.startsWith("dm:")) li.append(h("div", { class: "meta" }, m.sender));
  for (const asset of m.attachments || []) li.append(attachmentView(asset, m));
  if (m.kind === "tip" && m.tip) li.append(h("div", {}, `💸 tip ${(m.tip.amount_cents / 100).toFixed(2)} ${m.tip.currency}`));
  if (m.kind === "ciphertext") li.append(h("div", { class: "muted" }, "🔒 encrypted message"));
  else if (m.body) li.append(h("div", { class: "body" }, m.body));
  const tick = sending ? "🕓" : mine ? { sent: "✓", delivered: "✓✓", read: "✓✓" }[chat.tick(m)] : "";
  li.append(h("div", { class: "meta" }, when(m.ts), " ",
    h("span", { class: "tick " + (sending ? "" : mine ? chat.tick(m) : ""), title: sending ? "sending" : mine ? chat.tick(m) : "" }, tick)));
  return li;
}

const assetURLs = new Map();

function attachmentView(asset, m) {
  const box = h("div", { class: "attachment" }, h("span", { class: "muted" }, "loading attachment…"));
  const show = url => {
    if (m.kind === "image") box.replaceChildren(h("img", { src: url, alt: m.body || "image", width: m.width, height: m.height }));
    else if (m.kind === "video") box.replaceChildren(h("video", { src: url, controls: "" }));
    else if (m.kind === "audio") box.replaceChildren(h("audio", { src: url, controls: "" }));
    else box.replaceChildren(h("a", { href: url, download: m.body || asset }, `⬇ ${m.body || asset}`));
  };
  if (assetURLs.has(asset)) { show(assetURLs.get(asset)); return box; }
  chat.api.assetURL(asset).then(url => { assetURLs.set(asset, url); show(url); })
    .catch(() => box.replaceChildren(h("span", { class: "muted" }, "attachment unavailable")));
  return box;
}

function renderAll() { renderList(); renderChat(); }

function render(what) {
  if (what === "all" || what === "list" || what === "presence") return renderAll();
  renderList();
  if (what === chat.openID) renderChat();
}

// ---- Composing ---------------------------------------------------------------------------

let lastTyping = 0;
$("#text").addEventListener("input", () => {
  if (chat.openID && Date.now() - lastTyping > 2000 && chat.convs.has(chat.openID)) {
    lastTyping = Date.now();
    socket.typing(chat.openID);
  }
});

$("#composer").addEventListener("submit", async e => {
  e.preventDefault();
  const body = $("#text").value.trim();
  if (!body || !chat.openID) return;
  $("#text").value = "";
  await sendTo(chat.openID, { kind: "text", body });
});

async function sendTo(id, fields) {
  $("#chat-error").textContent = "";
  const target = chat.convs.has(id) || !id.startsWith("dm:") ? { conversation_id: id } : { conversation_id: id, to: chat.partner(id) };
  try {
    return await chat.send({ ...target, ...fields });
  } catch (err) {
    const link = err.billing_url ? h("a", { href: err.billing_url, target: "_blank", rel: "noopener" }, " Update billing") : "";
    $("#chat-error").replaceChildren(`Not sent: ${err.message || err.code}`, link);
  }
}

$("#attach").addEventListener("change", async e => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file || !chat.openID) return;
  const id = chat.openID;
  const bar = h("progress", { max: "1", value: "0", "aria-label": `uploading ${file.name}` });
  $("#chat-error").replaceChildren(`Uploading ${file.name} `, bar);
  try {
    const asset = await api.upload(file, p => { bar.value = p; });
    const kind = file.type.startsWith("image/") ? "image" : file.type.startsWith("video/") ? "video"
      : file.type.startsWith("audio/") ? "audio" : "file";
    const extra = kind === "image" ? await imageSize(file) : {};
    $("#chat-error").textContent = "";
    await sendTo(id, { kind, body: file.name, attachments: [asset.asset_id], ...extra });
  } catch (err) {
    $("#chat-error").textContent = `Upload failed: ${err.message}`;
  }
});

function imageSize(file) {
  return new Promise(resolve => {
    const img = new Image();
    img.onload = () => { resolve({ width: img.naturalWidth, height: img.naturalHeight }); URL.revokeObjectURL(img.src); };
    img.onerror = () => resolve({});
    img.src = URL.createObjectURL(file);
  });
}

$("#tip").addEventListener("click", () => panels.tip(chat, chat.openID, fields => sendTo(chat.openID, fields)));

$("#messages").addEventListener("scroll", async () => {
  if ($("#messages").scrollTop < 30 && chat.openID && !loadingOlder) {
    loadingOlder = true;
    try { await chat.loadOlder(chat.openID); } catch (_) { /* offline: the cache is what we have */ }
    loadingOlder = false;
  }
});
let loadingOlder = false;

document.addEventListener("visibilitychange", () => { if (chat && chat.openID) chat.acknowledge(chat.openID); });

// ---- Starting chats, groups, settings ----------------------------------------------------

$("#new-chat").addEventListener("submit", e => {
  e.preventDefault();
  const other = $("#new-chat-user").value.trim().toLowerCase();
  if (!other || other === chat.me) return;
  $("#new-chat-user").value = "";
  const id = "dm:" + [chat.me, other].sort().join(":");
  if (!chat.convs.has(id)) chat.merge({ conversation_id: id, kind: "direct", title: "", last_seq: 0, delivered: 0, read: 0, unread: 0 });
  open(id);
});

$("#back").addEventListener("click", () => { chat.openID = null; $("#app").classList.remove("chatting"); location.hash = ""; renderAll(); });
$("#new-group").addEventListener("click", () => panels.newGroup(chat, open));
$("#chat-info").addEventListener("click", () => panels.info(chat, chat.openID));
$("#chat-block").addEventListener("click", () => panels.block(chat, chat.partner(chat.openID)));
$("#open-settings").addEventListener("click", () => panels.settings(chat));
$("#open-lists").addEventListener("click", () => panels.lists(chat));
$("#open-blocks").addEventListener("click", () => panels.blocked(chat));

// #/c/ID opens a conversation; #/invite/CODE joins a group by its invite link.
async function route() {
  const hash = location.hash;
  if (hash.startsWith("#/invite/")) {
    const code = decodeURIComponent(hash.slice("#/invite/".length));
    try {
      const { conversation_id } = await api.call("POST", `/v1/invites/${encodeURIComponent(code)}/accept`);
      await chat.refreshConversations();
      open(conversation_id);
    } catch (err) { showDialog("Invite", h("p", {}, `This invite cannot be used: ${err.message}`)); }
  } else if (hash.startsWith("#/c/")) {
    open(decodeURIComponent(hash.slice(4)));
  }
}
window.addEventListener("hashchange", () => { if (chat) route(); });

// ---- Boot --------------------------------------------------------------------------------

const saved = JSON.parse(localStorage.getItem("relay.session") || "null");
if (saved) start(saved.user, saved.token).catch(() => signedOut());
else $("#auth").hidden = false;
export { ApiError };
