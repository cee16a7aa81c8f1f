// Live events: the API's server-sent events read through fetch (an EventSource cannot send a
// bearer token), parsed as the HTML standard says, reconnecting with Last-Event-ID.

/** A parser fed text chunks; calls onEvent({id, event, data}) for each complete event. */
export function eventParser(onEvent) {
  let buffer = "";
  let data = [];
  let name = "";
  let id = null;
  return function feed(chunk) {
    buffer += chunk;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop(); // an unfinished line waits for the next chunk
    for (const line of lines) {
      if (line === "") {
        if (data.length) onEvent({ id, event: name || "message", data: data.join("\n") });
        data = [];
        name = "";
        continue;
      }
      if (line.startsWith(":")) continue; // a comment: the server's heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") name = value;
      else if (field === "id" && !value.includes("\0")) id = value;
    }
  };
}

export class LiveEvents {
  constructor(api, onStatus) {
    this.api = api;
    this.onStatus = onStatus || (() => {});
    this.handlers = new Map();
    this.lastId = null;
    this.controller = null;
    this.stopped = true;
    this.delay = 1000;
  }

  on(kind, handler) {
    if (!this.handlers.has(kind)) this.handlers.set(kind, new Set());
    this.handlers.get(kind).add(handler);
    return () => this.handlers.get(kind).delete(handler);
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
    this.onStatus(false);
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.read();
        this.delay = 1000;
      } catch (error) {
        if (this.stopped) return;
        if (error && error.status === 401) return this.stop();
        if (error && error.status === 404) return this.onStatus(false); // no events here
      }
      this.onStatus(false);
      if (this.stopped) return;
      await new Promise((resolve) => setTimeout(resolve, this.delay));
      this.delay = Math.min(this.delay * 2, 30000);
    }
  }

  async read() {
    this.controller = new AbortController();
    const headers = this.api.headers({ Accept: "text/event-stream" });
    if (this.lastId !== null) headers["Last-Event-ID"] = this.lastId;
    const response = await fetch(this.api.url("/events"), {
      headers,
      signal: this.controller.signal,
      cache: "no-store",
    });
    if (!response.ok) throw { status: response.status };
    this.onStatus(true);
    const feed = eventParser((event) => this.dispatch(event));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      feed(value);
    }
  }

  dispatch(event) {
    if (event.id !== null) this.lastId = event.id;
    let data = event.data;
    try {
      data = JSON.parse(event.data);
    } catch {
      // not JSON: handed over as text
    }
    for (const kind of [event.event, "*"]) {
      for (const handler of this.handlers.get(kind) || []) handler(data, event);
    }
  }
}
