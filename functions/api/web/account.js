// Usage, limits and the webhook secret, offered only where this deployment's API has them (from /openapi.json).

import { call, has } from "./api.js";
import { $, copyText, show, showError } from "./ui.js";

let ctx = { api: null, key: "" };
let wired = false;

/** A GET path about usage or limits that takes no parameter (e.g. /usage), if the API has one. */
function usagePath(api) {
  return Object.keys(api.paths).find((p) => /usage|limits/i.test(p) && !p.includes("{") && api.paths[p].get) || null;
}

export function setupAccount(api, key, perms) {
  ctx = { api, key };
  const usage = usagePath(api);
  const webhook = has(api, "get", "/webhook_secret");
  show($("#account-section"), Boolean(usage || webhook) && perms.size > 0);
  show($("#usage"), Boolean(usage));
  show($("#webhook"), webhook);
  show($("#webhook-secret-box"), false);
  showError($("#account-error"), "");
  if (!wired) {
    $("#refresh-usage").addEventListener("click", loadUsage);
    $("#show-webhook-secret").addEventListener("click", showSecret);
    $("#copy-webhook-secret").addEventListener("click", () => copyText($("#webhook-secret").textContent));
    wired = true;
  }
  if (usage) loadUsage();
}

async function loadUsage() {
  const list = $("#usage-list");
  try {
    const data = await call(ctx.key, "GET", usagePath(ctx.api));
    list.replaceChildren();
    for (const [name, value] of flatten(data || {})) {
      list.append(Object.assign(document.createElement("dt"), { textContent: name }));
      list.append(Object.assign(document.createElement("dd"), { textContent: value }));
    }
  } catch (err) {
    showError($("#account-error"), err.message);
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

async function showSecret() {
  try {
    const data = await call(ctx.key, "GET", "/webhook_secret");
    const secret = typeof data === "string" ? data : Object.values(data || {}).find((v) => typeof v === "string");
    $("#webhook-secret").textContent = secret || "";
    show($("#webhook-secret-box"), Boolean(secret));
  } catch (err) {
    showError($("#account-error"), err.message);
  }
}
