// Usage, limits and the webhook secret, offered only where this deployment's API has them (from /openapi.json).

import { call, has } from "./api.js";
import { $, confirmAction, copyText, formatBytes, formatDuration, show, showError } from "./ui.js";

const TASK_PERMISSIONS = ["get_video", "get_audio", "get_live_video", "get_live_audio", "get_info", "get_playlist"];
// /usage's fields in words (any other field is shown by its own name).
const USAGE_WORDS = {
  name: ["Key", String], limit: ["Task requests allowed per window", String], used: ["Used in this window", String],
  remaining: ["Left in this window", String], window_seconds: ["Window", formatDuration],
  reset: ["One more allowed in", formatDuration], "totals › tasks": ["Tasks created", String],
  "totals › completed": ["Completed", String], "totals › failed": ["Failed", String],
  "totals › cached": ["Completed from shared results (no download)", String], "totals › bytes": ["Size of the files", formatBytes],
};

let ctx = { api: null, key: "" };
let wired = false;

/** A GET path about usage or limits that takes no parameter (e.g. /usage), if the API has one. */
function usagePath(api) {
  return Object.keys(api.paths).find((p) => /usage|limits/i.test(p) && !p.includes("{") && api.paths[p].get) || null;
}

export function setupAccount(api, key, perms) {
  ctx = { api, key };
  const usage = usagePath(api);
  // The secret belongs to keys that make tasks (its endpoints answer 403 to the others).
  const webhook = has(api, "get", "/webhook_secret") && TASK_PERMISSIONS.some((p) => perms.has(p));
  show($("#account-section"), Boolean(usage || webhook) && perms.size > 0);
  show($("#usage"), Boolean(usage));
  show($("#webhook"), webhook);
  show($("#rotate-webhook-secret"), has(api, "post", "/webhook_secret"));
  show($("#webhook-secret-box"), false);
  showError($("#account-error"), "");
  if (!wired) {
    $("#refresh-usage").addEventListener("click", loadUsage);
    $("#show-webhook-secret").addEventListener("click", () => showSecret("GET"));
    $("#rotate-webhook-secret").addEventListener("click", onRotate);
    $("#copy-webhook-secret").addEventListener("click", async () => {
      const ok = await copyText($("#webhook-secret").textContent);
      $("#webhook-copy-status").textContent = ok ? "Copied." : "Could not copy: select the secret and copy it by hand.";
    });
    wired = true;
  }
  if (usage) loadUsage();
}

async function loadUsage() {
  const list = $("#usage-list");
  try {
    const data = await call(ctx.key, "GET", usagePath(ctx.api));
    list.replaceChildren();
    renderUsage(list, data);
  } catch (err) {
    showError($("#account-error"), err.message);
  }
}

/** A /usage answer as term/value pairs in words. */
export function renderUsage(list, data) {
  list.replaceChildren();
  const raw = {};
  collect(data || {}, "", raw);
  for (const [name, value] of flatten(data || {})) {
    const [words, format] = USAGE_WORDS[name.replaceAll(" ", "_").replace("_›_", " › ")] || [name, null];
    const shown = format && raw[name] !== undefined ? format(raw[name]) : value;
    list.append(Object.assign(document.createElement("dt"), { textContent: words }));
    list.append(Object.assign(document.createElement("dd"), { textContent: shown }));
  }
}

function collect(value, prefix, out) {
  for (const [k, v] of Object.entries(value)) {
    const name = `${prefix ? `${prefix} › ` : ""}${k.replaceAll("_", " ")}`;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) collect(v, name, out);
    else out[name] = v;
  }
}

/** Nested JSON as readable "a › b": value pairs. */
function flatten(value, prefix = "") {
  if (value === null || typeof value !== "object") return [[prefix || "value", value === null ? "none" : String(value)]];
  const out = [];
  for (const [k, v] of Object.entries(value)) {
    const name = `${prefix ? `${prefix} › ` : ""}${k.replaceAll("_", " ")}`;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(...flatten(v, name));
    else out.push([name, Array.isArray(v) ? v.join(", ") : v === null ? "none" : String(v)]);
  }
  return out;
}

async function onRotate() {
  const yes = await confirmAction("Make a new webhook secret? The old one keeps signing for 24 hours, so receivers can switch over.", "Yes, rotate the secret");
  if (yes) await showSecret("POST");
}

/** Fetch (GET) or rotate (POST) the secret and show it with a copy button; the page keeps no copy of it. */
async function showSecret(method) {
  showError($("#account-error"), "");
  try {
    const data = await call(ctx.key, method, "/webhook_secret");
    $("#webhook-secret-note").textContent = method === "POST"
      ? "New webhook secret. The old one keeps signing for 24 hours. Copy this one and keep it safe."
      : "This key's webhook secret. Copy it and keep it safe.";
    $("#webhook-copy-status").textContent = "";
    const secret = typeof data === "string" ? data : Object.values(data || {}).find((v) => typeof v === "string");
    $("#webhook-secret").textContent = secret || "";
    show($("#webhook-secret-box"), Boolean(secret));
  } catch (err) {
    showError($("#account-error"), err.message);
  }
}
