// Small DOM helpers shared by the page's modules.

export const $ = (selector) => document.querySelector(selector);

/** Show or hide an element (the hidden attribute: hidden parts are out of the tab order too). */
export function show(element, visible) {
  element.hidden = !visible;
}

/** Put a plain-words message in an alert region; an empty message hides it. */
export function showError(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}

export function formatBytes(bytes) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Copy text to the clipboard (the Clipboard API where the page is a secure context, else a selection copy). */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused: fall back to the selection below
    }
  }
  const area = Object.assign(document.createElement("textarea"), { value: text, readOnly: true });
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  area.remove();
  return ok;
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(question, confirmLabel) {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = question;
  $("#confirm-yes").textContent = confirmLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("#confirm-no").focus(); // the safe choice first
  });
}
