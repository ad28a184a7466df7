// Small DOM helpers. Text from users only ever goes in as text nodes, never as HTML.

export const $ = sel => document.querySelector(sel);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === "") continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function when(ts) {
  const d = new Date(ts), now = new Date();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return d.toDateString() === now.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

// A group change (a `system` message, PROTOCOL.md) in words.
export function describeSystem(m) {
  let e;
  try { e = JSON.parse(m.body); } catch (_) { return m.body; }
  switch (e.event) {
    case "created": return `${e.by} created the group`;
    case "member_added": return `${e.by} added ${e.user}`;
    case "member_removed": return `${e.by} removed ${e.user}`;
    case "member_left": return `${e.user} left`;
    case "role_changed": return `${e.by} made ${e.user} ${e.role === "admin" ? "an admin" : "a member"}`;
    case "title_changed": return `${e.by} renamed the group to “${e.title}”`;
    case "joined_by_invite": return `${e.user} joined with an invite link`;
    default: return m.body;
  }
}

// A modal with `content` and a Close button; `actions` are extra buttons [label, fn].
export function showDialog(title, ...content) {
  const dialog = $("#dialog"), body = $("#dialog-body");
  body.replaceChildren(h("h2", {}, title), ...content,
    h("div", { class: "row" }, h("span", { class: "spacer" }), h("button", { value: "close" }, "Close")));
  if (!dialog.open) dialog.showModal();
  return body;
}

export function field(label, input) { return h("label", {}, label, " ", input); }

export function errorLine() { return h("p", { class: "error", role: "alert" }); }
