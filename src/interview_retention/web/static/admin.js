// The admin view: the retention backlog and each job's health, legal holds, and
// running a job with its progress followed until it ends.

import { ApiError, call, latestOnly } from "./api.js";
import { el, formatDate, plural, show } from "./dom.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const FINISHED = new Set(["SUCCEEDED", "FAILED"]);
// The admin view shows the oldest holds; the API pages the rest.
const HOLDS_SHOWN = 50;

const JOBS = [
  { job: "retention", title: "Retention rule", what: "Queue a notice for each session the retention rule now covers." },
  { job: "notices", title: "Notices", what: "Send queued notices; each starts its session's grace period." },
  { job: "purge", title: "Purge", what: "Delete for good every session whose deadline has passed." },
];

const BACKLOG_WORDS = [
  ["softDeleted", "In users' trash"],
  ["scheduledByRetention", "Scheduled by retention"],
  ["dueNow", "Due now"],
  ["overdue", "Overdue"],
  ["noticesPending", "Notices pending"],
  ["noticesFailed", "Notices failed"],
  ["legalHolds", "On legal hold"],
];

let ui = null;
let wired = false;

/** Show the admin view, wiring it the first time. */
export function startAdmin({ notify, describe }) {
  ui = { notify, describe };
  if (!wired) {
    wire();
    wired = true;
  }
  loadStatus();
}

// A hold set while the view's first load is under way: that load's answer is older.
const statusLoad = latestOnly();

async function loadStatus() {
  const current = statusLoad();
  try {
    const [status, holds] = await Promise.all([
      call("GET", "/api/admin/retention/status"),
      call("GET", "/api/admin/legal-holds", { query: { pageSize: HOLDS_SHOWN } }),
    ]);
    if (!current()) return;
    renderStatus(status);
    renderHolds(holds);
  } catch (failure) {
    if (!(failure instanceof ApiError && failure.status === 401)) ui.notify(ui.describe(failure), "error");
  }
}

function renderHolds(page) {
  $("holds-body").replaceChildren(
    ...page.items.map((held) => {
      const pick = el("button", {
        className: "link-button mono",
        text: held.sessionId,
        attrs: { type: "button", title: "Fill the form with this session" },
      });
      pick.addEventListener("click", () => {
        $("hold-session").value = held.sessionId;
        $("hold-reason").focus();
      });
      return el("tr", { attrs: { "data-session-id": held.sessionId } }, [
        el("td", { attrs: { "data-label": "Session" } }, [pick]),
        el("td", { text: held.status, attrs: { "data-label": "Status" } }),
        el("td", { text: held.reason ?? "—", attrs: { "data-label": "Reason" } }),
        el("td", { text: held.heldSince ? formatDate(held.heldSince) : "—", attrs: { "data-label": "Held since" } }),
        el("td", { text: held.heldBy ?? "—", attrs: { "data-label": "Set by" } }),
      ]);
    }),
  );
  show($("holds-empty"), page.total === 0);
  const more = page.total - page.items.length;
  $("holds-more").textContent = more > 0 ? `And ${plural(more, "more session")} on hold (GET /api/admin/legal-holds pages them all).` : "";
  show($("holds-more"), more > 0);
}

function renderStatus(status) {
  show($("paused"), Boolean(status.deletionsPaused));
  $("backlog").replaceChildren(
    ...BACKLOG_WORDS.map(([key, words]) =>
      el("div", { className: "stat", attrs: { "data-stat": key } }, [
        el("dt", { text: words }),
        el("dd", { text: status[key] ?? 0 }),
      ]),
    ),
  );
  $("jobs-health-body").replaceChildren(
    ...status.jobs.map((job) => {
      let health = "OK";
      if (job.failing) health = "Failing";
      else if (job.silent) health = job.lastStartedAt ? "Silent" : "Never run";
      return el("tr", { attrs: { "data-job": job.job } }, [
        el("td", { text: job.job, attrs: { "data-label": "Job" } }),
        el("td", { text: formatDate(job.lastSuccessAt), attrs: { "data-label": "Last success" } }),
        el("td", { text: formatDate(job.lastErrorAt), attrs: { "data-label": "Last error" } }),
        el("td", { attrs: { "data-label": "State" } }, [
          el("span", { className: `badge badge-health-${health.toLowerCase().replace(" ", "-")}`, text: health }),
        ]),
      ]);
    }),
  );
}

// --- Jobs --------------------------------------------------------------------

function jobCard({ job, title, what }) {
  const dry = el("input", { attrs: { type: "checkbox", id: `dry-${job}` } });
  const run = el("button", { className: "button button-primary", text: `Run ${title.toLowerCase()}`, attrs: { type: "button" } });
  const bar = el("progress", { attrs: { max: "1", value: "0", "aria-label": `${title} progress` } });
  const line = el("p", { className: "result", attrs: { role: "status", "data-job-status": job } });
  // After a dry run: run exactly the set it listed, refused if that set has changed.
  const runPlan = el("button", { className: "button", text: "Run this plan", attrs: { type: "button" } });
  runPlan.hidden = true;
  const output = el("div", { className: "job-output" }, [bar, line, runPlan]);
  output.hidden = true;
  const parts = { run, runPlan, bar, line, output };
  run.addEventListener("click", () => runJob(job, { dryRun: dry.checked }, parts));
  runPlan.addEventListener("click", () => runJob(job, { planId: runPlan.dataset.planId }, parts));
  return el("article", { className: "job", attrs: { "data-job": job } }, [
    el("h3", { text: title }),
    el("p", { className: "muted small", text: what }),
    el("div", { className: "job-controls" }, [
      el("label", { className: "check", attrs: { for: `dry-${job}` } }, [dry, document.createTextNode(" Dry run")]),
      run,
    ]),
    output,
  ]);
}

async function runJob(job, { dryRun = false, planId = null }, parts) {
  const { run, runPlan, bar, line, output } = parts;
  run.disabled = true;
  show(runPlan, false);
  show(output);
  bar.removeAttribute("value");
  line.textContent = dryRun ? "Making a plan…" : "Queueing…";
  let body = {};
  if (dryRun) body = { dryRun: true };
  else if (planId) body = { planId };
  try {
    const data = await call("POST", `/api/admin/jobs/${job}`, { body });
    if (dryRun) {
      bar.value = 1;
      bar.max = 1;
      const oldest = data.oldestDeadline ? `; the oldest deadline is ${formatDate(data.oldestDeadline)}` : "";
      line.textContent = `Dry run: the ${job} job would act on ${plural(data.count, "session")}${oldest}. Nothing was changed.`;
      if (data.count > 0) {
        runPlan.dataset.planId = data.planId;
        show(runPlan);
      }
      return;
    }
    await follow(data.taskId, { bar, line });
    loadStatus();
  } catch (failure) {
    bar.value = 0;
    if (!(failure instanceof ApiError && failure.status === 401)) line.textContent = `Not run: ${ui.describe(failure)}`;
  } finally {
    run.disabled = false;
  }
}

// What the progress's `deleted` count is for each job.
const DONE_WORD = { retention: "queued", notices: "sent", purge: "deleted" };

function describeRun(run) {
  const progress = run.progress ?? {};
  const counts = ["processed", "deleted", "failed", "remaining"]
    .filter((name) => typeof progress[name] === "number")
    .map((name) => `${name === "deleted" ? (DONE_WORD[run.job] ?? name) : name} ${progress[name]}`);
  const words = { QUEUED: "Queued", RUNNING: "Running", SUCCEEDED: "Done", FAILED: "Failed" };
  const head = words[run.status] ?? run.status;
  const tail = run.status === "FAILED" && run.error ? ` (${run.error})` : "";
  return counts.length ? `${head}: ${counts.join(", ")}${tail}` : `${head}${tail}`;
}

/** Poll the run until it ends, showing its state and counts as they change. */
async function follow(taskId, { bar, line }) {
  for (;;) {
    const run = await call("GET", `/api/admin/tasks/${encodeURIComponent(taskId)}`);
    line.textContent = describeRun(run);
    const progress = run.progress ?? {};
    const processed = progress.processed ?? 0;
    const remaining = progress.remaining ?? 0;
    if (FINISHED.has(run.status)) {
      bar.max = 1;
      bar.value = run.status === "SUCCEEDED" ? 1 : 0;
      return run;
    }
    if (processed + remaining > 0) {
      bar.max = processed + remaining;
      bar.value = processed;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// --- Legal holds -------------------------------------------------------------

async function changeHold(action) {
  const sessionId = $("hold-session").value.trim();
  const reason = $("hold-reason").value.trim();
  const result = $("hold-result");
  if (!sessionId || reason.length < 3) {
    result.className = "result form-error";
    result.textContent = "Enter the session ID and a reason of at least 3 characters.";
    show(result);
    return;
  }

  const buttons = $("hold-form").querySelectorAll("button");
  for (const button of buttons) button.disabled = true;
  const path = `/api/admin/sessions/${encodeURIComponent(sessionId)}/legal-hold`;
  try {
    const session = await call(action === "set" ? "PUT" : "DELETE", path, { body: { reason } });
    result.className = "result";
    result.textContent = session.legalHold
      ? `Session ${session.sessionId} is on legal hold.`
      : `The hold on session ${session.sessionId} is lifted.`;
    show(result);
    await showHistory(path);
    loadStatus();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return;
    result.className = "result form-error";
    result.textContent = ui.describe(failure);
    show(result);
    show($("hold-history"), false);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

async function showHistory(path) {
  const list = $("hold-history");
  try {
    const history = await call("GET", path);
    list.replaceChildren(
      ...history.events.map((event) =>
        el("li", {
          text: `${formatDate(event.at)} · ${event.action === "SET" ? "Set" : "Lifted"} by ${event.actor}: ${event.reason}`,
        }),
      ),
    );
    show(list, history.events.length > 0);
  } catch {
    show(list, false);
  }
}

function wire() {
  $("jobs").replaceChildren(...JOBS.map(jobCard));
  $("hold-form").addEventListener("submit", (event) => {
    event.preventDefault();
    changeHold("set");
  });
  document.querySelector('[data-hold="lift"]').addEventListener("click", () => changeHold("lift"));
}
