// Tasks started from this browser: the history kept in localStorage (ids, never the key) and one status poller.

import { call } from "./api.js";

const HISTORY_NAME = "ytdlp-host.tasks";
const POLL_MS = 1000; // at most one /status request per task per second
const MAX_HISTORY = 50;
const FINISHED = new Set(["completed", "error"]);

/** A short fingerprint of the key, so each key sees its own tasks (a SHA-256 prefix, never the key itself). */
export async function fingerprint(key) {
  if (!globalThis.crypto || !crypto.subtle) return "any"; // not a secure context: one shared list
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return Array.from(new Uint8Array(digest).slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

export const history = {
  all() {
    try {
      const items = JSON.parse(localStorage.getItem(HISTORY_NAME) || "[]");
      return Array.isArray(items) ? items.filter((t) => t && typeof t.id === "string") : [];
    } catch {
      return [];
    }
  },
  write(items) {
    localStorage.setItem(HISTORY_NAME, JSON.stringify(items.slice(0, MAX_HISTORY)));
  },
  mine(owner) {
    return this.all().filter((t) => t.owner === owner);
  },
  add(entry) {
    this.write([entry, ...this.all().filter((t) => t.id !== entry.id)]);
  },
  update(id, changes) {
    this.write(this.all().map((t) => (t.id === id ? { ...t, ...changes } : t)));
  },
  remove(id) {
    this.write(this.all().filter((t) => t.id !== id));
  },
  clear(owner) {
    this.write(this.all().filter((t) => t.owner !== owner));
  },
};

/** Polls /status of the tasks it watches, one round per second at most, and tells each task's listeners. */
export class Poller {
  constructor(getKey) {
    this.getKey = getKey;
    this.watched = new Map(); // task id -> Set of listeners (status, error) => void
    this.timer = null;
    this.running = false;
  }

  /** Call `listener(status)` on every new status of `id` until it finishes; `listener(null, error)` on failure. */
  watch(id, listener) {
    if (!this.watched.has(id)) this.watched.set(id, new Set());
    this.watched.get(id).add(listener);
    if (!this.running && this.timer === null) this.timer = setTimeout(() => this.round(), 0);
  }

  /** Resolves with the task's final status (completed or error); rejects when it cannot be read. */
  wait(id, onUpdate) {
    return new Promise((resolve, reject) => {
      this.watch(id, (status, error) => {
        if (error) return reject(error);
        if (onUpdate) onUpdate(status);
        if (FINISHED.has(status.status)) resolve(status);
      });
    });
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.watched.clear();
  }

  async round() {
    this.timer = null;
    this.running = true;
    const key = this.getKey();
    for (const [id, listeners] of [...this.watched]) {
      let status = null;
      let error = null;
      try {
        status = await call(key, "GET", `/status/${encodeURIComponent(id)}`);
      } catch (err) {
        error = err;
      }
      // A network blip or a busy service is retried next round; anything else ends the watch.
      const retry = error && (error.status === 0 || error.status === 429 || error.status >= 500);
      if (!retry && (error || FINISHED.has(status.status))) this.watched.delete(id);
      if (retry) continue;
      for (const listener of listeners) listener(status, error);
    }
    this.running = false;
    if (this.watched.size) this.timer = setTimeout(() => this.round(), POLL_MS);
  }
}

export function isFinished(status) {
  return FINISHED.has(status);
}
