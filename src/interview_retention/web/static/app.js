// The page: sign in, the sessions list with the seed page's delete flow, the
// trash, and (for admins) the retention tools in admin.js.

import {
  ApiError,
  call,
  forgetToken,
  latestOnly,
  onUnauthorized,
  sessionPath,
  storedToken,
  storeToken,
} from "./api.js";
import { startAdmin } from "./admin.js";
import { el, formatDate, fromNow, plural, show, statusBadge, timeZone } from "./dom.js";

const PAGE_SIZE = 20;
const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  view: "sessions",
  pages: { sessions: 1, trash: 1 },
  totals: { sessions: 0, trash: 0 },
};

// --- Messages --------------------------------------------------------------

function notify(message, kind = "success") {
  const box = $("notice");
  box.className = `notice notice-${kind}`;
  // An error is announced at once; a success politely.
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  $("notice-text").textContent = message;
  show(box);
}

function clearNotice() {
  show($("notice"), false);
}

function describe(error) {
  return error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
}

// --- Signing in and out ------------------------------------------------------

function showSignIn(message) {
  state.me = null;
  show($("workspace"), false);
  show($("account"), false);
  show($("sign-in"));
  const error = $("sign-in-error");
  error.textContent = message ?? "";
  show(error, Boolean(message));
  $("token-input").value = "";
  $("token-input").focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token-input").value.trim();
  const error = $("sign-in-error");
  if (!token) {
    error.textContent = "Enter your API token.";
    show(error);
    return;
  }

  const button = $("sign-in-button");
  button.disabled = true;
  try {
    const me = await call("GET", "/api/me", { token });
    storeToken(token);
    enter(me);
  } catch (failure) {
    error.textContent = describe(failure);
    show(error);
  } finally {
    button.disabled = false;
  }
}

function signOut(message) {
  forgetToken();
  closeDialog();
  clearNotice();
  showSignIn(message);
}

function enter(me) {
  state.me = me;
  show($("sign-in"), false);
  show($("workspace"));
  show($("account"));
  $("account-name").textContent = me.displayName || "Signed in";
  show($("account-role"), me.role === "admin");
  show(document.querySelector('[data-view="admin"]'), me.role === "admin");
  $("zone-note").textContent = `Times are shown in your browser's time zone (${timeZone}).`;
  switchView("sessions");
}

// --- Views -------------------------------------------------------------------

function switchView(view) {
  if (view === "admin" && state.me?.role !== "admin") view = "sessions";
  state.view = view;
  for (const tab of document.querySelectorAll(".tab")) {
    if (tab.dataset.view === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  for (const name of ["sessions", "trash", "admin"]) {
    show($(`view-${name}`), name === view);
  }
  clearNotice();
  refresh(view);
}

function refresh(view) {
  if (view === "admin") startAdmin({ notify, describe });
  else loadList(view);
}

function renderPager(view) {
  const pager = document.querySelector(`[data-pager="${view}"]`);
  const pages = Math.max(1, Math.ceil(state.totals[view] / PAGE_SIZE));
  const page = state.pages[view];
  pager.querySelector(".pager-text").textContent =
    `Page ${page} of ${pages} · ${plural(state.totals[view], "session")}`;
  pager.querySelector('[data-page="prev"]').disabled = page <= 1;
  pager.querySelector('[data-page="next"]').disabled = page >= pages;
}

function turnPage(view, step) {
  state.pages[view] = Math.max(1, state.pages[view] + step);
  refresh(view);
}

// --- Sessions ----------------------------------------------------------------

// The two lists: the user's sessions, and the soft-deleted ones in the trash.
const LISTS = {
  sessions: { status: undefined, rowOf: sessionRow, latest: latestOnly() },
  trash: { status: "DELETED", rowOf: trashRow, latest: latestOnly() },
};

async function loadList(view) {
  const { status, rowOf, latest } = LISTS[view];
  const current = latest();
  const body = $(`${view}-body`);
  body.setAttribute("aria-busy", "true");
  try {
    const page = await call("GET", "/api/interview/sessions", {
      query: { status, page: state.pages[view], pageSize: PAGE_SIZE },
    });
    if (!current()) return;
    if (page.items.length === 0 && state.pages[view] > 1) {
      // The last page emptied (deleted or restored elsewhere): show the one before.
      state.pages[view] -= 1;
      return loadList(view);
    }
    state.totals[view] = page.total;
    body.replaceChildren(...page.items.map(rowOf));
    show($(`${view}-empty`), page.items.length === 0);
    renderPager(view);
  } catch (failure) {
    if (current() && !(failure instanceof ApiError && failure.status === 401)) notify(describe(failure), "error");
  } finally {
    // A newer load under way keeps the list marked busy until it ends.
    if (current()) body.removeAttribute("aria-busy");
  }
}


function deletionCell(session) {
  if (session.legalHold) {
    return [el("span", { className: "badge badge-hold", text: "Legal hold" })];
  }
  if (session.permanentDeleteAt) {
    // A live session with a deadline: the retention rule's grace period.
    return [
      el("span", { className: "deadline", text: `Scheduled for deletion on ${formatDate(session.permanentDeleteAt)}` }),
      el("span", { className: "muted small", text: ` (${fromNow(session.permanentDeleteAt)})` }),
    ];
  }
  return [el("span", { className: "muted", text: "—" })];
}

function sessionRow(session) {
  const created = formatDate(session.createdAt);
  const trash = el("button", {
    className: "button button-quiet",
    text: "Move to trash",
    attrs: { type: "button", "data-action": "trash", "aria-label": `Move to trash: session of ${created}` },
  });
  const remove = el("button", {
    className: "button button-danger-quiet",
    text: "Delete",
    attrs: { type: "button", "data-action": "delete", "aria-label": `Delete session of ${created}` },
  });
  trash.addEventListener("click", () => moveToTrash(session, row));
  remove.addEventListener("click", () => openDeleteDialog(session, row));

  const row = el("tr", { attrs: { "data-session-id": session.sessionId } }, [
    el("td", { text: created, attrs: { "data-label": "Created" } }),
    el("td", { attrs: { "data-label": "Status" } }, [statusBadge(session.status)]),
    el("td", { text: session.questionCount, attrs: { "data-label": "Questions" } }),
    el("td", { className: "score", text: session.overallScore ?? "—", attrs: { "data-label": "Score" } }),
    el("td", { attrs: { "data-label": "Deletion" } }, deletionCell(session)),
    el("td", { className: "row-actions" }, [trash, remove]),
  ]);
  return row;
}

async function moveToTrash(session, row) {
  const buttons = row.querySelectorAll("button");
  for (const button of buttons) button.disabled = true;
  try {
    const moved = await call("PATCH", sessionPath(session.sessionId), { body: { status: "DELETED" } });
    row.remove();
    state.totals.sessions -= 1;
    renderPager("sessions");
    show($("sessions-empty"), $("sessions-body").children.length === 0);
    notify(
      moved.legalHold
        ? "Moved to trash. It is under a legal hold, so it will not be deleted while the hold lasts."
        : `Moved to trash. It will be deleted for good on ${formatDate(moved.permanentDeleteAt)}` +
            " unless you restore it from the trash.",
    );
  } catch (failure) {
    notify(`Not moved to trash: ${describe(failure)}`, "error");
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

// --- The delete dialog (the seed page's flow) --------------------------------

const dialog = {
  session: null,
  row: null,
  busy: false,
};

function setDialogBusy(busy, progress) {
  dialog.busy = busy;
  for (const id of ["delete-cancel", "delete-export", "delete-only"]) $(id).disabled = busy;
  $("delete-progress").textContent = progress ?? "";
  show($("delete-progress"), Boolean(progress));
}

function dialogError(message) {
  $("delete-error").textContent = message ?? "";
  show($("delete-error"), Boolean(message));
}

function listWhatGoes(detail) {
  const items = $("delete-items");
  if (detail === null) {
    items.replaceChildren(
      el("li", { text: "All of its questions, follow-ups and answers" }),
      el("li", { text: "Evaluation scores and feedback" }),
      el("li", { text: "Generated reports" }),
    );
    return;
  }
  const followUps = detail.questions.reduce((sum, q) => sum + q.followUps.length, 0);
  const asked = detail.questions.length;
  const questions = plural(asked + followUps, "question");
  const parts = followUps ? ` (${asked} asked, ${plural(followUps, "follow-up")})` : "";
  const evaluation = detail.evaluation
    ? `Evaluation scores and feedback (overall score ${detail.evaluation.overallScore})`
    : "Evaluation scores and feedback (none recorded yet)";
  items.replaceChildren(
    el("li", { text: `${questions}${parts} and ${plural(detail.answers.length, "answer")}` }),
    el("li", { text: evaluation }),
    el("li", { text: "Generated reports and their cached copies" }),
    el("li", { text: "The session itself: its date, status and settings" }),
  );
}

async function openDeleteDialog(session, row) {
  dialog.session = session;
  dialog.row = row;
  dialogError(null);
  setDialogBusy(false);
  $("delete-session").textContent =
    `Session of ${formatDate(session.createdAt)} · ${plural(session.questionCount, "question")}`;
  $("delete-items").replaceChildren(el("li", { className: "muted", text: "Counting its questions and answers…" }));
  $("delete-dialog").showModal();
  // The safe choice has the focus: Enter or Escape right away deletes nothing.
  $("delete-cancel").focus();

  try {
    // Read when the dialog opens, so that the counts are those of now.
    const detail = await call("GET", sessionPath(session.sessionId));
    if (dialog.session === session) listWhatGoes(detail);
  } catch {
    if (dialog.session === session) listWhatGoes(null);
  }
}

function closeDialog() {
  const box = $("delete-dialog");
  if (box.open) box.close();
}

function afterDialogClosed() {
  const row = dialog.row;
  dialog.session = null;
  dialog.row = null;
  dialog.busy = false;
  // Focus goes back where it came from, or to the list if the row is gone.
  const back = row?.isConnected ? row.querySelector('[data-action="delete"]') : $("sessions-title");
  if (back) {
    if (!back.hasAttribute("tabindex") && back.tagName === "H1") back.setAttribute("tabindex", "-1");
    back.focus();
  }
}

function fileNameOf(response, session) {
  const header = response.headers.get("content-disposition") ?? "";
  const match = /filename="?([^";]+)"?/i.exec(header);
  return match ? match[1] : `interview-session-${session.sessionId}.pdf`;
}

async function downloadReport(session) {
  const response = await call("GET", sessionPath(session.sessionId, "/report/export"), { raw: true });
  const blob = await response.blob();
  if (blob.size === 0) throw new ApiError(response.status, "The export was empty");

  const url = URL.createObjectURL(blob);
  const link = el("a", { attrs: { href: url, download: fileNameOf(response, session) } });
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has read the blob by then; keep the memory no longer.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function exportAndDelete() {
  const { session, row } = dialog;
  if (!session || dialog.busy) return;
  dialogError(null);
  setDialogBusy(true, "Exporting the report…");
  try {
    await downloadReport(session);
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return;
    if (failure instanceof ApiError && failure.status === 404) {
      // Gone already (another tab, or the purge): no copy to make, and
      // nothing left to delete, which is what was asked for.
      forgetRow(session, row, "The session was already deleted; there was no report left to export");
      return;
    }
    // The export is the user's copy: without it, nothing is deleted.
    setDialogBusy(false);
    dialogError("Export failed. Session not deleted.");
    return;
  }
  await deleteSession(session, row);
}

async function deleteOnly() {
  const { session, row } = dialog;
  if (!session || dialog.busy) return;
  setDialogBusy(true, "Deleting…");
  await deleteSession(session, row);
}

// The row is gone for good: take it off the page (if still there) and the counts.
function forgetRow(session, row, message) {
  if (row) {
    row.remove();
    closeDialog();
    show($("sessions-empty"), $("sessions-body").children.length === 0);
  }
  state.totals.sessions = Math.max(0, state.totals.sessions - 1);
  renderPager("sessions");
  notify(message);
}

async function deleteSession(session, row) {
  // Optimistic: the row goes at once, and comes back if the server refuses.
  const parent = row.parentNode;
  const next = row.nextSibling;
  row.remove();
  closeDialog();
  show($("sessions-empty"), $("sessions-body").children.length === 0);

  let gone = false;
  let failure = null;
  try {
    await call("DELETE", sessionPath(session.sessionId));
    gone = true;
  } catch (caught) {
    // 404: already deleted, which is what was asked for.
    gone = caught instanceof ApiError && caught.status === 404;
    failure = caught;
  }

  if (gone) {
    forgetRow(session, null, "Session deleted successfully");
    return;
  }
  if (failure instanceof ApiError && failure.status === 401) return;
  if (parent?.isConnected) {
    parent.insertBefore(row, next?.parentNode === parent ? next : null);
    row.classList.add("row-failed");
    show($("sessions-empty"), false);
    row.querySelector('[data-action="delete"]')?.focus();
  }
  notify(`Session not deleted: ${describe(failure)}`, "error");
}

// --- Trash -------------------------------------------------------------------

function trashRow(session) {
  const created = formatDate(session.createdAt);
  const restore = el("button", {
    className: "button",
    text: "Restore",
    attrs: { type: "button", "data-action": "restore", "aria-label": `Restore session of ${created}` },
  });
  const deadline = session.legalHold
    ? [el("span", { className: "badge badge-hold", text: "Legal hold" })]
    : [
        el("span", { className: "deadline", text: formatDate(session.permanentDeleteAt) }),
        el("span", { className: "muted small", text: ` (${fromNow(session.permanentDeleteAt)})` }),
      ];
  const row = el("tr", { attrs: { "data-session-id": session.sessionId } }, [
    el("td", { text: created, attrs: { "data-label": "Created" } }),
    el("td", { text: formatDate(session.deletedAt), attrs: { "data-label": "Moved to trash" } }),
    el("td", { attrs: { "data-label": "Deleted for good" } }, deadline),
    el("td", { className: "row-actions" }, [restore]),
  ]);
  restore.addEventListener("click", () => restoreSession(session, row, restore));
  return row;
}

async function restoreSession(session, row, button) {
  button.disabled = true;
  try {
    const restored = await call("POST", sessionPath(session.sessionId, "/restore"));
    row.remove();
    state.totals.trash = Math.max(0, state.totals.trash - 1);
    renderPager("trash");
    show($("trash-empty"), $("trash-body").children.length === 0);
    const status = statusBadge(restored.status).textContent.toLowerCase();
    notify(`Session restored: it is back in your sessions as ${status}.`);
  } catch (failure) {
    notify(`Not restored: ${describe(failure)}`, "error");
  } finally {
    button.disabled = false;
  }
}

// --- Start -------------------------------------------------------------------

function wire() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("notice-close").addEventListener("click", clearNotice);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => switchView(tab.dataset.view));
  }
  for (const button of document.querySelectorAll("[data-refresh]")) {
    button.addEventListener("click", () => refresh(button.dataset.refresh));
  }
  for (const pager of document.querySelectorAll("[data-pager]")) {
    const view = pager.dataset.pager;
    pager.querySelector('[data-page="prev"]').addEventListener("click", () => turnPage(view, -1));
    pager.querySelector('[data-page="next"]').addEventListener("click", () => turnPage(view, 1));
  }

  const box = $("delete-dialog");
  $("delete-cancel").addEventListener("click", closeDialog);
  $("delete-export").addEventListener("click", exportAndDelete);
  $("delete-only").addEventListener("click", deleteOnly);
  // Escape is Cancel, except while an export or delete is under way.
  box.addEventListener("cancel", (event) => {
    if (dialog.busy) event.preventDefault();
  });
  box.addEventListener("close", afterDialogClosed);

  onUnauthorized((message) => signOut(`You have been signed out: ${message}`));
}

async function start() {
  wire();
  const token = storedToken();
  if (!token) {
    showSignIn();
    return;
  }
  try {
    enter(await call("GET", "/api/me"));
  } catch (failure) {
    if (!(failure instanceof ApiError && failure.status === 401)) showSignIn(describe(failure));
  }
}

start();
