// The "Current task" progress bar and the history list of the tasks started from this browser.

import { history, isFinished } from "./tasks.js";
import { $, formatBytes, formatDuration, show, showError } from "./ui.js";

export const TASK_WORDS = {
  get_video: "Video", get_audio: "Audio", get_live_video: "Live video", get_live_audio: "Live audio",
  get_info: "Info", get_playlist: "Playlist",
};
const CACHED_WORDS = "served from a shared result: the same file was already made, so nothing was downloaded again";
const STATE_WORDS = { waiting: "Waiting for a worker", processing: "Working", completed: "Done", error: "Failed" };
/** The progress bar, its text and the "Save file" link, from a /status answer. */
export function setProgress(status) {
  const bar = $("#progress");
  const p = status.progress || {};
  let value = 0;
  if (status.status === "completed") value = 100;
  else if (typeof p.percent === "number") value = Math.max(0, Math.min(100, p.percent));
  const known = status.status !== "processing" || typeof p.percent === "number";
  if (known) {
    bar.setAttribute("aria-valuenow", String(Math.round(value)));
    bar.removeAttribute("data-indeterminate");
  } else {
    bar.removeAttribute("aria-valuenow"); // indeterminate: the tool reports no percent (e.g. cutting a clip)
    bar.setAttribute("data-indeterminate", "");
  }
  $("#progress-fill").style.width = `${known ? value : 100}%`;
  const parts = [STATE_WORDS[status.status] || status.status];
  if (status.status === "completed" && status.cached) parts.push(CACHED_WORDS);
  if (status.webhook) parts.push(webhookWords(status.webhook));
  if (p.stage && status.status === "processing") parts.push(p.stage);
  if (typeof p.percent === "number" && status.status === "processing") parts.push(`${p.percent.toFixed(0)}%`);
  if (p.downloaded_bytes && status.status === "processing") parts.push(formatBytes(p.downloaded_bytes) + (p.total_bytes ? ` of ${formatBytes(p.total_bytes)}` : ""));
  if (p.speed && status.status === "processing") parts.push(`${formatBytes(p.speed)}/s`);
  if (typeof p.eta === "number" && p.eta > 0 && status.status === "processing") parts.push(`about ${formatDuration(p.eta)} left`);
  bar.setAttribute("aria-valuetext", parts.join(", "));
  $("#task-detail").textContent = parts.join(" · ");
  if (status.status === "completed" && status.file) {
    const link = $("#save-file");
    link.href = saveHref(status.file);
    link.setAttribute("download", status.file.split("/").pop());
    show($("#task-result"), true);
  }
  if (status.status === "error") showError($("#task-error"), `The task failed: ${sentence(status.error)}`);
}

/** A task's webhook delivery state in words. */
export function webhookWords(w) {
  const code = w.last_status_code ? ` (last answer HTTP ${w.last_status_code})` : "";
  if (w.status === "delivered") return "webhook delivered";
  if (w.status === "failed") return `webhook failed after ${w.attempts} attempts${code}`;
  return w.attempts ? `webhook not delivered yet, ${w.attempts} attempts so far${code}` : "webhook to be sent";
}

export function saveHref(file) {
  // raw=true: the storage link answers as an attachment, so the browser saves instead of playing it.
  return `${file}${file.includes("?") ? "&" : "?"}raw=true`;
}

export function sentence(text) {
  const t = String(text || "no reason given").trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

// -- history

export function renderHistory(owner) {
  const list = $("#history");
  list.replaceChildren();
  const items = history.mine(owner);
  for (const item of items) list.append(historyItem(item));
  if (!items.length) {
    const empty = Object.assign(document.createElement("li"), { className: "hint", textContent: "No tasks yet." });
    list.append(empty);
  }
  show($("#clear-history"), items.length > 0);
}

function historyItem(item) {
  const li = document.createElement("li");
  li.id = `task-${item.id}`;
  const title = Object.assign(document.createElement("span"), { className: "history-title", textContent: item.title || item.url });
  const meta = Object.assign(document.createElement("span"), { className: "hint history-meta" });
  const link = Object.assign(document.createElement("a"), { className: "history-link" });
  link.hidden = true;
  li.append(title, meta, link);
  fillHistoryItem(li, item, item.last || null);
  return li;
}

function fillHistoryItem(li, item, status) {
  const meta = li.querySelector(".history-meta");
  const link = li.querySelector(".history-link");
  const when = new Date(item.created).toLocaleString();
  const stateText = status ? STATE_WORDS[status.status] || status.status : "Checking…";
  let text = `${TASK_WORDS[item.type] || item.type} · ${when} · ${stateText}`;
  if (status && status.status === "processing" && status.progress && typeof status.progress.percent === "number") text += ` ${status.progress.percent.toFixed(0)}%`;
  if (status && status.status === "completed" && status.cached) text += ", from a shared result";
  if (status && status.status === "error") text += `: ${sentence(status.error)}`;
  if (status && status.status === "expired") text = `${TASK_WORDS[item.type] || item.type} · ${when} · Expired`;
  meta.textContent = text;
  if (status && status.status === "completed" && status.file) {
    const name = status.file.split("/").pop();
    link.href = saveHref(status.file);
    link.setAttribute("download", name);
    link.textContent = name;
    link.setAttribute("aria-label", `Save ${name} of ${item.title || item.url}`);
    link.hidden = false;
  } else {
    link.hidden = true;
  }
}

export function renderHistoryItem(id, status) {
  const item = history.all().find((t) => t.id === id);
  if (!item) return;
  const last = { status: status.status, file: status.file, error: status.error, progress: status.progress, cached: status.cached };
  history.update(id, { last });
  const li = document.getElementById(`task-${id}`);
  if (li) fillHistoryItem(li, item, last);
}

/** Refresh every listed task once, and follow those still running; expired ones leave the list. */
export function resumeHistory(owner, poller) {
  for (const item of history.mine(owner)) {
    if (item.last && isFinished(item.last.status) && item.last.status === "error") continue;
    poller.watch(item.id, (status, err) => {
      if (err && err.status === 404) {
        history.remove(item.id);
        const li = document.getElementById(`task-${item.id}`);
        if (li) fillHistoryItem(li, item, { status: "expired" });
        return;
      }
      if (err) return;
      renderHistoryItem(item.id, status);
    });
  }
}
