// Dialogs: groups (new, members, roles, invite links), blocking, profile and privacy, tips,
// creator lists and mass messages.
import { h, showDialog, field, errorLine, when } from "./ui.js";

const enc = encodeURIComponent;

function button(label, fn, attrs = {}) {
  const b = h("button", { type: "button", ...attrs }, label);
  b.addEventListener("click", fn);
  return b;
}

async function attempt(err, fn) {
  err.textContent = "";
  try { return await fn(); } catch (e) { err.textContent = e.message || String(e); return undefined; }
}

export function newGroup(chat, open) {
  const title = h("input", { required: true, maxlength: "256" });
  const members = h("input", { placeholder: "bob, carol" });
  const err = errorLine();
  showDialog("New group", field("Title", title), field("Members", members), err,
    button("Create", () => attempt(err, async () => {
      const list = members.value.split(/[\s,]+/).map(s => s.trim().toLowerCase()).filter(Boolean);
      const { conversation_id } = await chat.api.call("POST", "/v1/groups", { title: title.value, members: list });
      document.querySelector("#dialog").close();
      await chat.refreshConversations();
      open(conversation_id);
    })));
}

export async function info(chat, id) {
  if (!id) return;
  if (id.startsWith("dm:")) return profile(chat, chat.partner(id));
  const err = errorLine();
  const body = showDialog("Group", h("p", { class: "muted" }, "loading…"));
  let group;
  try { group = await chat.api.call("GET", `/v1/groups/${enc(id)}`); } catch (e) { body.prepend(h("p", { class: "error" }, e.message)); return; }
  const me = group.members.find(m => m.user === chat.me);
  const admin = me && me.role === "admin";
  const refresh = () => info(chat, id);
  const rows = group.members.map(m => h("li", {}, `${m.user} (${m.role}) — read ${m.read}`, " ",
    admin && m.user !== chat.me ? button(m.role === "admin" ? "Make member" : "Make admin", () => attempt(err, async () => {
      await chat.api.call("PUT", `/v1/groups/${enc(id)}/members/${enc(m.user)}/role`, { role: m.role === "admin" ? "member" : "admin" });
      refresh();
    })) : "",
    admin && m.user !== chat.me ? button("Remove", () => attempt(err, async () => {
      await chat.api.call("DELETE", `/v1/groups/${enc(id)}/members/${enc(m.user)}`);
      refresh();
    })) : ""));
  const add = h("input", { placeholder: "user name", "aria-label": "User to add" });
  const invite = h("input", { readonly: true, "aria-label": "Invite link" });
  showDialog(group.title, h("ul", {}, rows),
    admin ? h("div", { class: "row" }, add, button("Add", () => attempt(err, async () => {
      await chat.api.call("POST", `/v1/groups/${enc(id)}/members`, { user: add.value.trim().toLowerCase() });
      refresh();
    }))) : "",
    admin ? h("div", { class: "row" }, button("Create invite link", () => attempt(err, async () => {
      const { code } = await chat.api.call("POST", `/v1/groups/${enc(id)}/invites`, {});
      invite.value = `${location.origin}/#/invite/${enc(code)}`;
      invite.select();
      try { await navigator.clipboard.writeText(invite.value); } catch (_) { /* selected for copying by hand */ }
    })), invite) : "",
    button("Leave group", () => attempt(err, async () => {
      await chat.api.call("DELETE", `/v1/groups/${enc(id)}/members/${enc(chat.me)}`);
      document.querySelector("#dialog").close();
    })),
    err);
}

export async function profile(chat, user) {
  const body = showDialog(user, h("p", { class: "muted" }, "loading…"));
  try {
    const p = await chat.api.call("GET", `/v1/users/${enc(user)}`);
    body.querySelector("p").replaceWith(h("div", {},
      h("p", {}, h("strong", {}, p.display_name || user)),
      p.about ? h("p", {}, p.about) : "",
      p.last_seen ? h("p", { class: "muted" }, `last seen ${when(p.last_seen)}`) : ""));
  } catch (e) { body.querySelector("p").textContent = e.message; }
}

export async function block(chat, user) {
  const err = errorLine();
  showDialog(`Block ${user}?`, h("p", {}, `${user} will not be told. Their messages to you stop reaching you.`), err,
    button("Block", () => attempt(err, async () => {
      await chat.api.call("PUT", `/v1/blocks/${enc(user)}`);
      document.querySelector("#dialog").close();
    })),
    button("Unblock", () => attempt(err, async () => {
      await chat.api.call("DELETE", `/v1/blocks/${enc(user)}`);
      document.querySelector("#dialog").close();
    })));
}

export async function blocked(chat) {
  const err = errorLine();
  const list = h("ul");
  const load = async () => {
    const { blocked: users } = await chat.api.call("GET", "/v1/blocks");
    list.replaceChildren(...users.map(u => h("li", {}, u, " ", button("Unblock", () => attempt(err, async () => {
      await chat.api.call("DELETE", `/v1/blocks/${enc(u)}`);
      await load();
    })))));
    if (!users.length) list.replaceChildren(h("li", { class: "muted" }, "nobody"));
  };
  showDialog("Blocked users", list, err);
  await attempt(err, load);
}

export async function settings(chat) {
  const err = errorLine();
  const name = h("input", { maxlength: "64" }), about = h("input", { maxlength: "500" });
  const choices = () => ["everyone", "contacts", "nobody"].map(v => h("option", { value: v }, v));
  const lastSeen = h("select", {}, choices()), profileVis = h("select", {}, choices());
  showDialog("Profile and privacy", field("Display name", name), field("About", about),
    field("Who sees my last seen", lastSeen), field("Who sees my about and avatar", profileVis), err,
    button("Save", () => attempt(err, async () => {
      await chat.api.call("PATCH", "/v1/users/me", { display_name: name.value, about: about.value,
        last_seen_visibility: lastSeen.value, profile_visibility: profileVis.value });
      document.querySelector("#dialog").close();
    })));
  await attempt(err, async () => {
    const p = await chat.api.call("GET", `/v1/users/${enc(chat.me)}`);
    name.value = p.display_name || "";
    about.value = p.about || "";
    if (p.last_seen_visibility) lastSeen.value = p.last_seen_visibility;
    if (p.profile_visibility) profileVis.value = p.profile_visibility;
  });
}

export function tip(chat, id, send) {
  if (!id) return;
  const amount = h("input", { type: "number", min: "0.01", step: "0.01", value: "5.00" });
  const note = h("input", { placeholder: "thanks!" });
  const err = errorLine();
  showDialog("Send a tip", field("Amount (USD)", amount), field("Message", note), err,
    button("Send tip", async () => {
      const cents = Math.round(parseFloat(amount.value) * 100);
      if (!(cents > 0)) { err.textContent = "Enter an amount"; return; }
      document.querySelector("#dialog").close();
      await send({ kind: "tip", body: note.value || "tip", tip: { amount_cents: cents, currency: "USD" } });
    }));
}

export async function lists(chat) {
  const err = errorLine();
  const all = h("ul");
  const name = h("input", { placeholder: "list name" }), members = h("input", { placeholder: "fan1, fan2" });
  const load = async () => {
    const { lists } = await chat.api.call("GET", "/v1/lists");
    all.replaceChildren(...lists.map(l => h("li", {}, `${l.name} (${l.size})`, " ",
      button("Message", () => massMessage(chat, l)),
      button("Add member", () => attempt(err, async () => {
        const user = prompt(`Add to ${l.name}:`);
        if (user) { await chat.api.call("PUT", `/v1/lists/${enc(l.list_id)}/members/${enc(user.trim().toLowerCase())}`); await load(); }
      })))));
  };
  showDialog("Creator lists", all, h("div", { class: "row" }, name, members, button("Create", () => attempt(err, async () => {
    const list = members.value.split(/[\s,]+/).map(s => s.trim().toLowerCase()).filter(Boolean);
    await chat.api.call("POST", "/v1/lists", { name: name.value, members: list });
    name.value = members.value = "";
    await load();
  }))), err);
  await attempt(err, load);
}

function massMessage(chat, list) {
  const text = h("input", { placeholder: "message to everyone on the list" });
  const progress = h("progress", { max: "1", value: "0" });
  const status = h("p", { class: "muted" });
  const err = errorLine();
  showDialog(`Message ${list.name}`, text, progress, status, err, button("Send", () => attempt(err, async () => {
    const clientID = `w-mass-${Date.now().toString(36)}`;
    const sent = await chat.api.call("POST", `/v1/lists/${enc(list.list_id)}/messages`, { client_id: clientID, kind: "text", body: text.value });
    for (let i = 0; i < 600; i++) {
      const p = await chat.api.call("GET", `/v1/lists/${enc(list.list_id)}/messages/${enc(clientID)}`);
      progress.value = p.recipients ? p.done / p.recipients : 1;
      status.textContent = `${p.done} of ${sent.recipients} delivered`;
      if (p.done >= p.recipients) break;
      await new Promise(r => setTimeout(r, 500));
    }
  })));
}
