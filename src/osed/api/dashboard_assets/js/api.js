// Calls to the platform API with the signed-in user's bearer token. Errors come back as
// ApiError holding the problem document (RFC 9457) the API answered with.

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export class Api {
  /**
   * @param {string} base the API's root, "/api/v1"
   * @param {() => string|null} token the current access token
   * @param {(error: ApiError) => void} onUnauthenticated called on a 401
   */
  constructor(base, token, onUnauthenticated) {
    this.base = base.replace(/\/$/, "");
    this.token = token;
    this.onUnauthenticated = onUnauthenticated;
  }

  url(path, query) {
    const url = new URL(path.startsWith(this.base) ? path : this.base + path, location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value === undefined || value === null) continue;
      for (const one of [value].flat()) url.searchParams.append(name, String(one));
    }
    return url;
  }

  headers(extra) {
    const headers = { Accept: "application/json", ...extra };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  async request(method, path, { query, body, headers, signal } = {}) {
    const init = { method, headers: this.headers(headers), signal };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(this.url(path, query), init);
    const text = await response.text();
    let document = null;
    if (text) {
      try {
        document = JSON.parse(text);
      } catch {
        document = { detail: text.slice(0, 200) };
      }
    }
    if (!response.ok) {
      const error = new ApiError(response.status, document);
      if (response.status === 401 && this.onUnauthenticated) this.onUnauthenticated(error);
      throw error;
    }
    return document;
  }

  get(path, query, options) {
    return this.request("GET", path, { ...options, query });
  }

  post(path, body, headers) {
    return this.request("POST", path, { body, headers });
  }

  /** A file the API answers (a study's report or table) as a Blob. */
  async blob(path, accept = "*/*") {
    const response = await fetch(this.url(path), { headers: this.headers({ Accept: accept }) });
    if (!response.ok) {
      let problem = null;
      try {
        problem = await response.json();
      } catch {
        problem = null;
      }
      const error = new ApiError(response.status, problem);
      if (response.status === 401 && this.onUnauthenticated) this.onUnauthenticated(error);
      throw error;
    }
    return response.blob();
  }

  /** Every item of a list, following next_cursor for at most `pages` pages. */
  async all(path, query = {}, pages = 20) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < pages; page += 1) {
      const answer = await this.get(path, { ...query, cursor });
      items.push(...answer.items);
      cursor = answer.next_cursor;
      if (!cursor) break;
    }
    return items;
  }
}
