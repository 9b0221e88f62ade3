// The API as the page uses it: same-origin requests only, the key only as X-API-Key, errors in plain words.

const STORAGE_NAME = "ytdlp-host.key";

/** An API failure, with a sentence a person can act on. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// The API's own field names, as people read them in the page.
const FIELD_WORDS = {
  url: "Media URL", start_time: "Start", end_time: "End", output_format: "Output format",
  video_format: "Video quality", audio_format: "Audio quality", duration: "Duration", start: "Begin",
  name: "Key name", permissions: "Permissions",
};

/** A sentence for a failed request: the status says who can fix it, the API's message says what. */
export function plainWords(status, message, headers) {
  let text = String(message || "").trim();
  for (const [field, words] of Object.entries(FIELD_WORDS)) {
    text = text.replace(new RegExp(`\\b${field}\\b(?=:)`, "g"), words);
  }
  if (text && !/[.!?]$/.test(text)) text += ".";
  switch (status) {
    case 400: return `That was not accepted: ${text || "the request is invalid."}`;
    case 401: return "This API key is not valid. Check it and enter it again.";
    case 403: return "This key is not allowed to do that.";
    case 404: return text && !/^not found\.?$/i.test(text) ? text : "Not found: it may have expired.";
    case 409: return `That conflicts with what exists: ${text}`;
    case 413: return "That is too large to send.";
    case 429: {
      const wait = headers && headers.get("Retry-After");
      return `Too many requests for this key right now. Try again${wait ? ` in ${wait} seconds` : " later"}.`;
    }
    default:
      if (status >= 500) return `The service has a problem right now (${text || "server error"}) Try again in a moment.`;
      return text || `The request failed (HTTP ${status}).`;
  }
}

/** Where the key lives: this tab's sessionStorage, and localStorage only when the person asked to be remembered. */
export const keyStore = {
  load() {
    return sessionStorage.getItem(STORAGE_NAME) || localStorage.getItem(STORAGE_NAME) || "";
  },
  remembered() {
    return localStorage.getItem(STORAGE_NAME) !== null;
  },
  save(key, remember) {
    sessionStorage.setItem(STORAGE_NAME, key);
    if (remember) localStorage.setItem(STORAGE_NAME, key);
    else localStorage.removeItem(STORAGE_NAME);
  },
  clear() {
    sessionStorage.removeItem(STORAGE_NAME);
    localStorage.removeItem(STORAGE_NAME);
  },
};

let rateListener = null;
/** Be told the RateLimit-Limit/-Remaining/-Reset headers of every answer that has them (task-creating requests). */
export function onRateLimit(listener) {
  rateListener = listener;
}

/** A request to this origin; resolves to the parsed JSON (or null), rejects with an ApiError. */
export async function call(key, method, path, body) {
  if (!path.startsWith("/") || path.startsWith("//")) throw new ApiError("Refused: only this site is called.", 0);
  const headers = {};
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store", redirect: "follow",
    });
  } catch {
    throw new ApiError("Could not reach the service. Check your connection and try again.", 0);
  }
  const remaining = response.headers.get("RateLimit-Remaining");
  if (remaining !== null && rateListener) {
    rateListener({ limit: response.headers.get("RateLimit-Limit"), remaining, reset: response.headers.get("RateLimit-Reset") });
  }
  let payload = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.startsWith("application/json")) {
    try { payload = await response.json(); } catch { payload = null; }
  }
  if (!response.ok) {
    const message = payload && typeof payload.error === "string" ? payload.error : "";
    throw new ApiError(plainWords(response.status, message, response.headers), response.status);
  }
  return payload;
}

/** What this deployment offers, read from its OpenAPI document (paths and request fields). */
export async function loadApi() {
  const doc = await call("", "GET", "/openapi.json");
  const schemas = (doc.components && doc.components.schemas) || {};
  const paths = doc.paths || {};
  const resolve = (schema) => {
    if (schema && schema.$ref) return schemas[schema.$ref.split("/").pop()] || {};
    return schema || {};
  };
  const requestSchema = (path) => {
    const op = paths[path] && paths[path].post;
    const content = op && op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
    return content ? resolve(content.schema) : null;
  };
  const permissionsSchema = requestSchema("/check_permissions");
  const permissionsProp = permissionsSchema && permissionsSchema.properties && permissionsSchema.properties.permissions;
  const permissions = enumOf(resolve(permissionsProp && permissionsProp.items));
  return { paths, schemas, resolve, requestSchema, permissions };
}

/** The allowed values of a schema: its enum, or the enum inside an anyOf (a nullable enum). */
export function enumOf(schema) {
  if (!schema) return [];
  if (Array.isArray(schema.enum)) return schema.enum.filter((v) => v !== null);
  for (const part of schema.anyOf || []) {
    const found = enumOf(part);
    if (found.length) return found;
  }
  return [];
}

/** Whether the deployment has `method` on `path` (for features other versions may not have). */
export function has(api, method, path) {
  return Boolean(api.paths[path] && api.paths[path][method]);
}
