// Small helpers: elements built with text only (never HTML from data), and dates
// shown in the browser's own time zone with the zone named.

/** An element whose content is text and child elements, never parsed HTML. */
export function el(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    node.setAttribute(name, String(value));
  }
  node.append(...children);
  return node;
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

// dateStyle and timeStyle cannot be combined with timeZoneName: fields instead.
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
  timeZoneName: "short",
});
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "always" });
const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** "3 Dec 2026, 21:05 CET" in the browser's zone; an em dash for none. */
export function formatDate(iso) {
  return iso ? dateTime.format(new Date(iso)) : "—";
}

/** "in 30 days", "in 5 hours", or "now" once the instant is reached. */
export function fromNow(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  if (ms <= 0) return "now";
  if (ms < DAY_MS) return relative.format(Math.max(1, Math.round(ms / HOUR_MS)), "hour");
  return relative.format(Math.round(ms / DAY_MS), "day");
}

const STATUS_WORDS = {
  CREATED: "Created",
  IN_PROGRESS: "In progress",
  COMPLETED: "Completed",
  EVALUATED: "Evaluated",
  DELETED: "In trash",
};

export function statusBadge(status) {
  const word = STATUS_WORDS[status] ?? status;
  return el("span", { className: `badge badge-${String(status).toLowerCase()}`, text: word });
}

export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}
