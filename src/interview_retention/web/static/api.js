// The JSON API, as the page calls it: a bearer token from sessionStorage, the
// envelope {code, message, data} read back, and its message kept for the user.

const TOKEN_KEY = "interview-retention.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorized = () => {};
// Bumped on every sign-in and sign-out: a call started under one signed-in user
// never sends, or acts on the answer, under another (or under none).
let epoch = 0;

// The status of a call cut short by a sign-out: callers treat it as a 401, quietly.
const SIGNED_OUT = 401;

/**
 * For loads that can overlap (a refresh while one is under way, a change made
 * just after a view opened): call the function this returns at the start of a
 * load, and after each await go on only if the check it gave still says so.
 * Only the latest load shows its answer, so one read before a change never
 * hides that change.
 */
export function latestOnly() {
  let last = 0;
  return () => {
    const ticket = ++last;
    return () => ticket === last;
  };
}

/** Called with the API's message when a stored token stops working (401). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  epoch += 1;
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  epoch += 1;
  sessionStorage.removeItem(TOKEN_KEY);
}

export function sessionPath(sessionId, rest = "") {
  return `/api/interview/sessions/${encodeURIComponent(sessionId)}${rest}`;
}

/**
 * One request. Resolves to the envelope's data (or, with `raw`, to the
 * Response of a successful non-JSON download); rejects with an ApiError that
 * carries the status and the envelope's message. `token` is given only while
 * signing in, before the token is stored: its 401 is the sign-in's answer, not
 * the end of a signed-in session.
 */
export async function call(method, path, { body, query, raw = false, token } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    for (const one of [].concat(value)) {
      if (one !== undefined && one !== null) url.searchParams.append(name, String(one));
    }
  }
  const bearer = token ?? storedToken();
  const started = epoch;
  if (!bearer) {
    // Signed out (a poll or a load that outlived the sign-out): a request without
    // a token would only count as a failed authentication of this address.
    throw new ApiError(SIGNED_OUT, "Signed out");
  }
  const headers = { Accept: raw ? "application/pdf, application/json" : "application/json" };
  headers.Authorization = `Bearer ${bearer}`;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "The server could not be reached. Check your connection and try again.");
  }
  if (token === undefined && epoch !== started) {
    // The user signed out (or another signed in) meanwhile: the answer is for
    // no one on the page now.
    throw new ApiError(SIGNED_OUT, "Signed out");
  }
  if (raw && response.ok) {
    return response;
  }

  const envelope = await readEnvelope(response);
  if (response.status === 401 && token === undefined) {
    unauthorized(envelope.message);
  }
  if (!response.ok) {
    throw new ApiError(response.status, envelope.message);
  }
  return envelope.data;
}

async function readEnvelope(response) {
  try {
    const envelope = await response.json();
    if (envelope && typeof envelope.message === "string") {
      return envelope;
    }
  } catch {
    // Not JSON (a proxy's error page, say): fall through to a plain message.
  }
  return { code: response.status, message: `The server answered ${response.status}.`, data: null };
}
