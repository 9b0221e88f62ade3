// Request fields this page does not know by name (newer options of the API: webhooks, subtitles, ...), rendered
// from the endpoint's JSON schema in /openapi.json, so the page offers whatever the deployment accepts.

// Better words for fields this API has, where its schema's title is terse.
const LABELS = { webhook_url: "Webhook URL (gets a signed POST when the task finishes)", cache: "Use a shared result if the same file was already made" };

/** The field's own schema, without the `null` of an optional value. */
function core(api, schema) {
  const resolved = api.resolve(schema);
  const parts = (resolved.anyOf || resolved.oneOf || []).map((s) => api.resolve(s)).filter((s) => s.type !== "null");
  return parts.length === 1 ? { ...parts[0], title: resolved.title, description: resolved.description, default: resolved.default } : resolved;
}

function kindOf(prop) {
  if (Array.isArray(prop.enum)) return "enum";
  if (prop.type === "boolean") return "boolean";
  if (prop.type === "integer" || prop.type === "number") return "number";
  if (prop.type === "string") return "string";
  if (prop.type === "array" && prop.items && ["string", "integer", "number"].includes(prop.items.type || (prop.items.enum && "string"))) return "list";
  return null; // objects and mixed shapes: left to the API's other clients
}

/** Rebuild `container` with an input per unknown field of `schema`; values typed so far are kept. */
export function renderExtraFields(container, api, schema, handled) {
  const previous = readRaw(container);
  container.replaceChildren();
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    if (handled.has(name)) continue;
    const prop = core(api, raw);
    const kind = kindOf(prop);
    if (!kind) continue;
    const id = `extra-${name}`;
    const wrap = document.createElement("div");
    wrap.className = kind === "boolean" ? "check" : "field";
    const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: LABELS[name] || prop.title || name.replaceAll("_", " ") });
    let input;
    if (kind === "enum") {
      input = document.createElement("select");
      input.append(new Option("Default", ""));
      for (const v of prop.enum) if (v !== null) input.append(new Option(String(v), String(v)));
    } else {
      input = document.createElement("input");
      input.type = kind === "boolean" ? "checkbox" : kind === "number" ? "number" : prop.format === "uri" ? "url" : "text";
      if (kind === "number") input.step = prop.type === "integer" ? "1" : "any";
    }
    Object.assign(input, { id, name });
    input.dataset.kind = kind;
    if (kind === "boolean") {
      input.checked = prop.default === true; // e.g. `cache`: on unless unticked
      input.dataset.default = String(prop.default === true);
    }
    input.dataset.itemType = (prop.items && prop.items.type) || "";
    if (name in previous) {
      if (kind === "boolean") input.checked = previous[name];
      else input.value = previous[name];
    }
    const parts = kind === "boolean" ? [input, label] : [label, input];
    if (prop.description) {
      const hint = Object.assign(document.createElement("p"), { className: "hint", id: `${id}-hint`, textContent: prop.description });
      input.setAttribute("aria-describedby", hint.id);
      parts.push(hint);
    }
    if (kind === "list") input.placeholder = "comma-separated";
    wrap.append(...parts);
    container.append(wrap);
  }
}

function readRaw(container) {
  const out = {};
  for (const input of container.querySelectorAll("input, select")) out[input.name] = input.type === "checkbox" ? input.checked : input.value;
  return out;
}

/** The fields that were filled in, typed as their schema says (empty ones are left to the API's defaults). */
export function readExtraFields(container) {
  const out = {};
  for (const input of container.querySelectorAll("input, select")) {
    const kind = input.dataset.kind;
    if (kind === "boolean") {
      // Sent only when it differs from the API's default.
      if (String(input.checked) !== input.dataset.default) out[input.name] = input.checked;
      continue;
    }
    const value = input.value.trim();
    if (!value) continue;
    if (kind === "number") out[input.name] = Number(value);
    else if (kind === "list") {
      const items = value.split(",").map((s) => s.trim()).filter(Boolean);
      out[input.name] = input.dataset.itemType === "integer" || input.dataset.itemType === "number" ? items.map(Number) : items;
    } else out[input.name] = value;
  }
  return out;
}
