// Key management for keys with create_key / get_keys / delete_key: list, create (shown once), delete (confirmed).

import { call, has } from "./api.js";
import { renderUsage } from "./account.js";
import { $, confirmAction, copyText, show, showError } from "./ui.js";

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
let ctx = { api: null, key: "", perms: new Set() };
let wired = false;

/** Show the admin tools this key may use (called again whenever a key is entered). */
export function setupAdmin(api, key, perms) {
  ctx = { api, key, perms };
  const any = ["create_key", "get_keys", "delete_key"].some((p) => perms.has(p));
  show($("#admin-section"), any);
  show($("#create-key-form"), perms.has("create_key"));
  show($("#keys-list-box"), perms.has("get_keys"));
  show($("#new-key-box"), false);
  showError($("#admin-error"), "");
  $("#admin-status").textContent = perms.has("delete_key") && !perms.has("get_keys") ? "This key may delete keys but not list them." : "";
  if (!wired) {
    $("#create-key-form").addEventListener("submit", onCreate);
    $("#refresh-keys").addEventListener("click", loadKeys);
    $("#copy-new-key").addEventListener("click", onCopy);
    wired = true;
  }
  const create = api.requestSchema("/create_key");
  show($("#new-key-limit-field"), Boolean(create && create.properties && create.properties.request_limit));
  renderPermissionChoices();
  if (perms.has("get_keys")) loadKeys();
}

function renderPermissionChoices() {
  const box = $("#new-key-permissions");
  box.replaceChildren();
  for (const name of ctx.api.permissions) {
    const wrap = Object.assign(document.createElement("div"), { className: "check" });
    const input = Object.assign(document.createElement("input"), { type: "checkbox", id: `perm-${name}`, value: name });
    const label = Object.assign(document.createElement("label"), { htmlFor: input.id, textContent: name });
    wrap.append(input, label);
    box.append(wrap);
  }
}

async function onCreate(event) {
  event.preventDefault();
  showError($("#admin-error"), "");
  const name = $("#new-key-name").value.trim();
  const permissions = [...document.querySelectorAll("#new-key-permissions input:checked")].map((i) => i.value);
  if (!NAME_PATTERN.test(name)) return showError($("#admin-error"), "Give the key a name: letters, digits, “.”, “_” and “-”, starting with a letter or digit (at most 64).");
  if (!permissions.length) return showError($("#admin-error"), "Tick at least one permission for the new key.");
  const body = { name, permissions };
  const limit = $("#new-key-limit");
  if (!limit.closest("[hidden]") && limit.value.trim()) {
    const n = Number(limit.value);
    if (!Number.isInteger(n) || n < 1) return showError($("#admin-error"), "The request limit must be a whole number, 1 or more.");
    body.request_limit = n;
  }
  try {
    const created = await call(ctx.key, "POST", "/create_key", body);
    $("#new-key-label").textContent = `“${created.name}”`;
    $("#new-key-value").textContent = created.key;
    $("#copy-status").textContent = "";
    show($("#new-key-box"), true);
    $("#create-key-form").reset();
    $("#copy-new-key").focus();
    if (ctx.perms.has("get_keys")) await loadKeys();
  } catch (err) {
    showError($("#admin-error"), err.message);
  }
}

async function onCopy() {
  const ok = await copyText($("#new-key-value").textContent);
  $("#copy-status").textContent = ok ? "Copied." : "Could not copy: select the key and copy it by hand.";
}

async function loadKeys() {
  const list = $("#keys-list");
  try {
    const keys = await call(ctx.key, "GET", "/get_keys");
    list.replaceChildren();
    const names = Object.keys(keys).sort();
    for (const name of names) list.append(keyItem(keys[name]));
    if (!names.length) list.append(Object.assign(document.createElement("li"), { className: "hint", textContent: "No keys." }));
  } catch (err) {
    showError($("#admin-error"), err.message);
  }
}

function keyItem(entry) {
  // The list never shows the keys themselves: a new key is shown once, when it is created.
  const li = document.createElement("li");
  const name = Object.assign(document.createElement("strong"), { textContent: entry.name });
  const perms = Object.assign(document.createElement("span"), { className: "hint", textContent: (entry.permissions || []).join(", ") || "no permissions" });
  li.append(name, perms);
  if (entry.created_at) {
    li.append(Object.assign(document.createElement("span"), { className: "hint", textContent: `created ${new Date(entry.created_at * 1000).toLocaleString()}` }));
  }
  if (entry.request_limit) {
    li.append(Object.assign(document.createElement("span"), { className: "hint", textContent: `own limit: ${entry.request_limit} task requests per window` }));
  }
  if (has(ctx.api, "get", "/usage/{name}")) {
    // Listing keys needs get_keys, and so does another key's usage: whoever sees this list may read it.
    const usage = Object.assign(document.createElement("button"), { type: "button", className: "secondary small", textContent: "Usage" });
    usage.setAttribute("aria-label", `Usage of key ${entry.name}`);
    const box = Object.assign(document.createElement("dl"), { className: "pairs", hidden: true });
    box.setAttribute("aria-label", `Usage of ${entry.name}`);
    usage.addEventListener("click", async () => {
      try {
        renderUsage(box, await call(ctx.key, "GET", `/usage/${encodeURIComponent(entry.name)}`));
        box.hidden = false;
      } catch (err) {
        showError($("#admin-error"), err.message);
      }
    });
    li.append(usage, box);
  }
  if (ctx.perms.has("delete_key")) {
    const button = Object.assign(document.createElement("button"), { type: "button", className: "danger small", textContent: "Delete" });
    button.setAttribute("aria-label", `Delete key ${entry.name}`);
    button.addEventListener("click", () => onDelete(entry.name, button));
    li.append(button);
  }
  return li;
}

async function onDelete(name, button) {
  showError($("#admin-error"), "");
  const yes = await confirmAction(`Delete the key “${name}”? Whoever uses it loses access at once. This cannot be undone.`, `Yes, delete ${name}`);
  if (!yes) return button.focus();
  try {
    await call(ctx.key, "DELETE", `/delete_key/${encodeURIComponent(name)}`);
    $("#admin-status").textContent = `The key “${name}” is deleted.`;
    await loadKeys();
    $("#refresh-keys").focus();
  } catch (err) {
    showError($("#admin-error"), err.message);
  }
}
