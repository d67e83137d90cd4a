// API client. The token (when the server has one) is kept in localStorage
// and sent as "Authorization: Bearer"; on the WebSocket it goes as the
// subprotocol pair ["bearer", token].

const TOKEN_KEY = "parley.apiToken";

/** auth keeps the API token of this browser. */
export const auth = {
  get() { try { return localStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; } },
  set(t) { try { localStorage.setItem(TOKEN_KEY, t); } catch (_) { /* private mode: not kept */ } showTokenButton(); },
  clear() { try { localStorage.removeItem(TOKEN_KEY); } catch (_) { /* nothing kept */ } showTokenButton(); },
};

/** showTokenButton shows the header's "Forget API token" button while a token is kept. */
export function showTokenButton() {
  const b = typeof document !== "undefined" && document.getElementById("token-button");
  if (b) b.hidden = !auth.get();
}

/** APIError is a failed request: the HTTP status (0: no answer), the server's error code and message. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function apiError(res) {
  let code = `http_${res.status}`;
  let message = `The server answered ${res.status}${res.statusText ? " " + res.statusText : ""}.`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (_) { /* not JSON */ }
  return new APIError(res.status, code, message);
}

/** request fetches an API path with the token; non-2xx answers throw APIError with the server's message. */
export async function request(path, { method = "GET", body, headers = {}, accept = "application/json" } = {}) {
  const h = Object.assign({ Accept: accept }, headers);
  const token = auth.get();
  if (token) h.Authorization = `Bearer ${token}`;
  const init = { method, headers: h, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (_) {
    throw new APIError(0, "network", "Cannot reach the Parley server. Check that it is running; this page retries by itself.");
  }
  if (!res.ok) throw await apiError(res);
  return res;
}

/** getJSON is request for a JSON document. */
export async function getJSON(path) { return (await request(path)).json(); }
