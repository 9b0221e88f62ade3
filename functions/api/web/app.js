// The page: enter a key, see what it may do, get info, download or record, follow progress, save the file.

import { ApiError, call, has, keyStore, loadApi, onRateLimit } from "./api.js";
import { setupAdmin } from "./admin.js";
import { setupAccount } from "./account.js";
import { renderExtraFields, readExtraFields } from "./fields.js";
import { Poller, fingerprint, history } from "./tasks.js";
import { TASK_WORDS, renderHistory as drawHistory, renderHistoryItem, resumeHistory, sentence, setProgress } from "./taskview.js";
import { $, formatBytes, formatDuration, show, showError } from "./ui.js";

const PERMISSION_WORDS = {
  create_key: "create keys", delete_key: "delete keys", get_key: "look up a key", get_keys: "list keys",
  get_video: "download video", get_audio: "download audio", get_live_video: "record live video",
  get_live_audio: "record live audio", get_info: "get media info",
};
// Request fields the form itself handles; any other field of the request schema is offered under "More options".
const HANDLED_FIELDS = new Set(["url", "video_format", "audio_format", "output_format", "start_time", "end_time", "force_keyframes", "start", "duration"]);
const INFO_KEYS = ["title", "duration", "thumbnail", "is_live", "live_status", "uploader", "extractor_key", "_type", "playlist_count", "qualities"];

const state = {
  api: null,
  key: "",
  owner: "any",
  perms: new Set(),
  info: null, // what get_info said about the current URL
  infoUrl: "",
  current: null, // id of the task the "Current task" panel follows
};
const poller = new Poller(() => state.key);

async function main() {
  const ready = loadApi().then((api) => { state.api = api; });
  $("#key-form").addEventListener("submit", onKeySubmit);
  $("#forget-key").addEventListener("click", forgetKey);
  $("#info-form").addEventListener("submit", onGetInfo);
  $("#download-form").addEventListener("submit", onDownload);
  $("#record").addEventListener("click", onRecord);
  $("#playlist").addEventListener("click", onPlaylist);
  $("#mode-options").addEventListener("change", renderModeFields);
  $("#media-url").addEventListener("input", onUrlChanged);
  onRateLimit((r) => {
    const wait = Number(r.reset) > 0 ? `; one more is allowed in ${formatDuration(r.reset)}` : "";
    $("#limit-status").textContent = `${r.remaining} of ${r.limit} task requests left for this key in this window${wait}.`;
  });
  $("#clear-history").addEventListener("click", () => { history.clear(state.owner); drawHistory(state.owner); });
  try {
    await ready;
  } catch (err) {
    showError($("#key-error"), `The page could not start: ${err.message}`);
    return;
  }
  // Enabled only now: before, a submit would be a plain form submission, or find the page not ready.
  $("#use-key").disabled = false;
  const saved = keyStore.load();
  if (saved) {
    $("#api-key").value = saved;
    $("#remember").checked = keyStore.remembered();
    await useKey(saved);
  }
}

async function onKeySubmit(event) {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  if (!key) return showError($("#key-error"), "Enter your API key first.");
  await useKey(key);
}

/** Check the key against /check_permissions and show only what it may do. */
async function useKey(key) {
  showError($("#key-error"), "");
  $("#key-status").textContent = "Checking the key…";
  const names = state.api.permissions.length ? state.api.permissions : Object.keys(PERMISSION_WORDS);
  let granted;
  try {
    granted = await Promise.all(names.map(async (name) => {
      try {
        await call(key, "POST", "/check_permissions", { permissions: [name] });
        return name;
      } catch (err) {
        if (err instanceof ApiError && err.status === 403) return null;
        throw err;
      }
    }));
  } catch (err) {
    $("#key-status").textContent = "";
    showError($("#key-error"), err.message);
    return;
  }
  poller.stop(); // the previous key's tasks are not this key's to poll
  state.key = key;
  state.perms = new Set(granted.filter(Boolean));
  state.owner = await fingerprint(key);
  keyStore.save(key, $("#remember").checked);
  show($("#forget-key"), true);
  const words = [...state.perms].map((p) => PERMISSION_WORDS[p] || p.replaceAll("_", " "));
  $("#key-status").textContent = words.length ? `This key may: ${words.join(", ")}.` : "This key may not do anything here.";
  renderSections();
  drawHistory(state.owner);
  resumeHistory(state.owner, poller);
}

function forgetKey() {
  keyStore.clear();
  poller.stop();
  Object.assign(state, { key: "", owner: "any", perms: new Set(), info: null, current: null });
  $("#api-key").value = "";
  $("#remember").checked = false;
  $("#key-status").textContent = "The key is forgotten on this device.";
  show($("#forget-key"), false);
  for (const id of ["#fetch-section", "#task-section", "#history-section", "#admin-section", "#account-section"]) show($(id), false);
  $("#api-key").focus();
}

const can = (permission) => state.perms.has(permission);
const canFetch = () => ["get_info", "get_video", "get_audio", "get_live_video", "get_live_audio"].some(can);

function renderSections() {
  show($("#fetch-section"), canFetch());
  show($("#get-info"), can("get_info"));
  show($("#history-section"), canFetch());
  // Without get_info there is nothing to look at first: the download form is offered straight away.
  state.info = null;
  show($("#media-card"), false);
  show($("#download-form"), canFetch() && !can("get_info"));
  if (!can("get_info")) renderDownloadForm();
  setupAdmin(state.api, state.key, state.perms);
  setupAccount(state.api, state.key, state.perms);
}

function onUrlChanged() {
  // Info shown for another URL must not be used to pick formats for this one.
  if (state.info && $("#media-url").value.trim() !== state.infoUrl && can("get_info")) {
    state.info = null;
    show($("#media-card"), false);
    show($("#download-form"), false);
  }
}

function mediaUrl() {
  const url = $("#media-url").value.trim();
  if (!/^https?:\/\/\S+$/i.test(url)) throw new ApiError("Enter the media's web address, starting with http:// or https://.", 400);
  return url;
}

async function onGetInfo(event) {
  event.preventDefault();
  showError($("#info-error"), "");
  let url;
  try { url = mediaUrl(); } catch (err) { return showError($("#info-error"), err.message); }
  const button = $("#get-info");
  button.disabled = true;
  $("#info-status").textContent = "Getting info…";
  try {
    const created = await call(state.key, "POST", "/get_info", { url });
    remember(created.task_id, "get_info", url);
    const done = await poller.wait(created.task_id, (s) => { renderHistoryItem(created.task_id, s); });
    renderHistoryItem(created.task_id, done);
    if (done.status === "error") throw new ApiError(`Could not get info: ${sentence(done.error)}`, 0);
    const query = INFO_KEYS.map(encodeURIComponent).join("&");
    state.info = await call(state.key, "GET", `${done.file}?${query}`);
    state.infoUrl = url;
    if (state.info.title) {
      history.update(created.task_id, { title: state.info.title });
      drawHistory(state.owner);
    }
    $("#info-status").textContent = "";
    renderInfo();
  } catch (err) {
    $("#info-status").textContent = "";
    showError($("#info-error"), err.message);
  } finally {
    button.disabled = false;
  }
}

function renderInfo() {
  const info = state.info;
  $("#media-title").textContent = info.title || "Untitled";
  const meta = [];
  if (info.uploader) meta.push(info.uploader);
  if (isLive()) meta.push("Live now");
  else if (typeof info.duration === "number") meta.push(`Duration ${formatDuration(info.duration)}`);
  if (info._type === "playlist") meta.push(`Playlist${info.playlist_count ? ` of ${info.playlist_count}` : ""}`);
  if (info.extractor_key) meta.push(`from ${info.extractor_key}`);
  $("#media-meta").textContent = meta.join(" · ");
  const thumb = $("#media-thumb");
  // Only an https thumbnail (img-src of the page's CSP); it is the media site's own picture, sent no referrer.
  if (typeof info.thumbnail === "string" && info.thumbnail.startsWith("https://")) {
    thumb.src = info.thumbnail;
    thumb.alt = `Thumbnail of ${info.title || "the media"}`;
    show(thumb, true);
  } else {
    thumb.removeAttribute("src");
    show(thumb, false);
  }
  show($("#media-card"), true);
  const choices = modes();
  if (!choices.length) {
    $("#info-status").textContent = isLive() ? "This key may not record live streams." : "This key may look media up, but not download it.";
  }
  renderDownloadForm();
  show($("#download-form"), choices.length > 0);
}

function isLive() {
  return Boolean(state.info && (state.info.is_live || state.info.live_status === "is_live"));
}

/** The "what to save" choices this key has for this media (live or not). */
function modes() {
  const live = isLive();
  const unknown = !state.info; // no get_info: both kinds offered
  const out = [];
  if ((!live && can("get_video")) || ((live || unknown) && can("get_live_video"))) out.push(["video", "Video"]);
  if ((!live && can("get_audio")) || ((live || unknown) && can("get_live_audio"))) out.push(["audio", "Audio only"]);
  return out;
}

function renderDownloadForm() {
  const container = $("#mode-options");
  const previous = selectedMode();
  container.replaceChildren();
  const choices = modes();
  for (const [value, label] of choices) {
    const wrap = document.createElement("div");
    wrap.className = "check";
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "mode", id: `mode-${value}`, value });
    input.checked = value === previous || (!choices.some(([v]) => v === previous) && value === choices[0][0]);
    const lab = Object.assign(document.createElement("label"), { htmlFor: input.id, textContent: label });
    wrap.append(input, lab);
    container.append(wrap);
  }
  fillQualities();
  renderModeFields();
}

function selectedMode() {
  const checked = document.querySelector('input[name="mode"]:checked');
  return checked ? checked.value : "";
}

function fillQualities() {
  const q = (state.info && state.info.qualities) || { video: {}, audio: {} };
  const video = $("#video-quality");
  const audio = $("#audio-quality");
  video.replaceChildren(new Option("Best available", ""));
  audio.replaceChildren(new Option("Best available", ""));
  for (const [id, f] of Object.entries(q.video || {})) {
    const parts = [`${f.height}p`, `${f.fps} fps`, f.vcodec, f.dynamic_range !== "SDR" && f.dynamic_range !== "unknown" ? f.dynamic_range : "", f.filesize ? formatBytes(f.filesize) : ""];
    video.append(new Option(parts.filter(Boolean).join(" · "), id));
  }
  for (const [id, f] of Object.entries(q.audio || {})) {
    const parts = [`${f.abr} kbps`, f.acodec, f.language || "", f.filesize ? formatBytes(f.filesize) : ""];
    audio.append(new Option(parts.filter(Boolean).join(" · "), id));
  }
}

/** Endpoint of the current choice: a download or, for a live stream, a recording. */
function endpointFor(mode, live) {
  if (live) return mode === "audio" ? "get_live_audio" : "get_live_video";
  return mode === "audio" ? "get_audio" : "get_video";
}

function renderModeFields() {
  const mode = selectedMode();
  const live = isLive();
  const unknown = !state.info;
  const any = Boolean(mode);
  show($("#mode-fieldset"), any);
  show($("#video-quality-field"), mode === "video");
  show($("#audio-quality-field"), any);
  const downloadable = any && !live && can(endpointFor(mode, false));
  const recordable = any && (live || unknown) && can(endpointFor(mode, true));
  show($("#download"), downloadable);
  show($("#clip-fieldset"), downloadable);
  show($("#record"), recordable);
  show($("#live-fieldset"), recordable);
  const playlist = has(state.api, "post", "/get_playlist") && (!state.info || state.info._type === "playlist")
    && (state.api.permissions.includes("get_playlist") ? can("get_playlist") : can("get_video") || can("get_audio"));
  show($("#playlist"), Boolean(playlist) && any);
  // Output formats: whatever the endpoint's schema allows (audio may keep the source's format).
  const endpoint = endpointFor(mode, live && !downloadable);
  const schema = state.api.requestSchema(`/${endpoint}`);
  const select = $("#output-format");
  const before = select.value;
  select.replaceChildren();
  if (schema) {
    const prop = state.api.resolve(schema.properties.output_format);
    const values = enumOfProp(prop);
    if (mode === "audio") select.append(new Option("Keep the original", ""));
    for (const v of values) select.append(new Option(v, v));
    const fallback = prop.default || (mode === "audio" ? "" : values[0]);
    select.value = values.includes(before) || (before === "" && mode === "audio") ? before : fallback || "";
    renderExtraFields($("#extra-fields"), state.api, schema, HANDLED_FIELDS);
  }
  show($("#extra-fieldset"), $("#extra-fields").children.length > 0);
}

function enumOfProp(prop) {
  if (Array.isArray(prop.enum)) return prop.enum;
  for (const part of prop.anyOf || []) if (Array.isArray(part.enum)) return part.enum;
  return [];
}

/** The request body of the form, for `endpoint`. */
function buildBody(endpoint) {
  const url = mediaUrl();
  const mode = selectedMode();
  const body = { url };
  const videoId = $("#video-quality").value;
  const audioId = $("#audio-quality").value;
  if (mode === "video") {
    body.video_format = videoId || "bestvideo";
    body.audio_format = audioId || "bestaudio";
  } else {
    body.audio_format = audioId || "bestaudio";
  }
  const output = $("#output-format").value;
  if (output) body.output_format = output;
  if (endpoint === "get_live_video" || endpoint === "get_live_audio") {
    const duration = Number($("#live-duration").value);
    const back = Number($("#live-back").value || 0);
    if (!(duration > 0)) throw new ApiError("Enter how many seconds to record (more than 0).", 400);
    if (!(back >= 0)) throw new ApiError("“Begin this many seconds ago” must be 0 or more.", 400);
    body.duration = duration;
    body.start = back;
  } else {
    const start = $("#clip-start").value.trim();
    const end = $("#clip-end").value.trim();
    if (start) body.start_time = start;
    if (end) body.end_time = end;
    if ($("#exact-cut").checked) body.force_keyframes = true;
  }
  const schema = state.api.requestSchema(`/${endpoint}`);
  Object.assign(body, readExtraFields($("#extra-fields")));
  // Only the fields this endpoint takes (the extra fields were built from the download schema).
  if (schema && schema.properties) for (const name of Object.keys(body)) if (!(name in schema.properties)) delete body[name];
  return body;
}

async function submit(endpoint, button) {
  const error = $("#download-error");
  showError(error, "");
  let body;
  try { body = buildBody(endpoint); } catch (err) { return showError(error, err.message); }
  button.disabled = true;
  try {
    const created = await call(state.key, "POST", `/${endpoint}`, body);
    remember(created.task_id, endpoint, body.url);
    follow(created.task_id, endpoint);
  } catch (err) {
    showError(error, err.message);
  } finally {
    button.disabled = false;
  }
}

function onDownload(event) {
  event.preventDefault();
  submit(endpointFor(selectedMode(), false), $("#download"));
}

function onRecord() {
  submit(endpointFor(selectedMode(), true), $("#record"));
}

function onPlaylist() {
  submit("get_playlist", $("#playlist"));
}

function remember(id, type, url) {
  history.add({ id, type, url, title: state.info && state.infoUrl === url ? state.info.title || "" : "", owner: state.owner, created: Date.now() });
  drawHistory(state.owner);
}

/** Show a task in the "Current task" panel and follow it to its end. */
function follow(id, type) {
  state.current = id;
  show($("#task-section"), true);
  $("#task-summary").textContent = `${TASK_WORDS[type] || type} task ${id}`;
  show($("#task-result"), false);
  showError($("#task-error"), "");
  setProgress({ status: "waiting" });
  $("#task-heading").scrollIntoView({ block: "nearest" });
  poller.watch(id, (status, err) => {
    if (state.current !== id) return;
    if (err) return showError($("#task-error"), err.message);
    renderHistoryItem(id, status);
    setProgress(status);
  });
}

main();
