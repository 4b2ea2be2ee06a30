// A client for the Neuro-Acoustic Audio Service, for browsers and Node (no build step).
//
//   import { AudioServiceClient } from "audio-service-client";
//   const client = new AudioServiceClient("http://127.0.0.1:8000");
//   const { job_id } = await client.submitFile(file);   // or client.submitUrl(url)
//   for await (const event of client.stream(job_id)) console.log(event.type, event.seq);
//
// Resume: each followed job remembers the last seq it delivered (and the log's epoch once
// the server states one). After any reconnect, socket.io-client's or a transport drop, it
// subscribes again from there, so every event is delivered exactly once and in seq order.
// In a browser, "socket.io-client" resolves through an import map (the service's page maps
// it to the copy it serves).
import { io } from "socket.io-client";

const JOB_EVENTS = ["progress", "chunk", "complete", "error"];
const TERMINAL = new Set(["complete", "error"]);
/** Refusals that are worth another try after a pause rather than the end of the stream. */
const RETRYABLE = new Set(["BACKEND_UNAVAILABLE", "RATE_LIMITED"]);
const RETRY_MS = 1000;

export class StreamError extends Error {
  constructor(code, message, jobId) {
    super(`${code}: ${message}`);
    this.code = code;
    this.jobId = jobId;
  }
}

/** Where one job's stream stands: what a resume sends. */
class Follow {
  constructor(jobId, handlers) {
    this.jobId = jobId;
    this.lastSeq = 0;
    this.epoch = null;
    this.duration = null;
    this.done = false;
    this.handlers = handlers;
  }

  resumePayload() {
    const payload = { job_id: this.jobId };
    if (this.lastSeq > 0) payload.last_seq = this.lastSeq;
    if (this.epoch !== null) payload.epoch = this.epoch;
    return payload;
  }
}

export class AudioServiceClient {
  /**
   * @param {string} url  the service, e.g. "http://127.0.0.1:8000" ("" or "/" in its own page)
   * @param {object} [options]  `transports` (default ["websocket", "polling"]), `socketOptions`
   */
  constructor(url, options = {}) {
    this.url = url.replace(/\/+$/, "");
    this.follows = new Map();
    const socketOptions = {
      transports: options.transports ?? ["websocket", "polling"],
      ...options.socketOptions,
    };
    this.socket = this.url ? io(this.url, socketOptions) : io(socketOptions);
    this.socket.on("connect", () => {
      for (const follow of this.follows.values()) this.#subscribe(follow);
    });
    this.socket.on("subscribed", (data) => {
      const follow = this.follows.get(data.job_id);
      if (!follow) return;
      if (data.epoch !== undefined) follow.epoch = data.epoch;
      if (typeof data.duration === "number") follow.duration = data.duration;
      follow.handlers.onSubscribed?.(data);
    });
    for (const name of JOB_EVENTS) this.socket.on(name, (data) => this.#receive(name, data));
  }

  /** POST a File or Blob as a multipart upload; resolves to `{job_id, ...}`. */
  async submitFile(file, filename = file.name ?? "upload") {
    const form = new FormData();
    form.append("file", file, filename);
    return this.#post({ body: form });
  }

  /** POST a media URL; resolves to `{job_id, ...}`. */
  async submitUrl(mediaUrl) {
    return this.#post({
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: mediaUrl }),
    });
  }

  /**
   * Follow a job with callbacks: `onEvent(event)` for every job event (exactly once, in
   * order), `onSubscribed(info)` on each (re)subscribe, `onEnd(error?)` once. Returns a
   * function that stops following.
   */
  follow(jobId, handlers) {
    const follow = new Follow(jobId, handlers);
    this.follows.set(jobId, follow);
    if (this.socket.connected) this.#subscribe(follow);
    return () => this.#end(follow, null, true);
  }

  /** An async iterator over a job's events; it ends after `complete` or `error`. */
  stream(jobId, { onSubscribed } = {}) {
    const queue = [];
    let wake = null;
    let failure = null;
    let finished = false;
    const push = () => {
      if (wake) wake();
      wake = null;
    };
    const stop = this.follow(jobId, {
      onSubscribed,
      onEvent: (event) => {
        queue.push(event);
        push();
      },
      onEnd: (error) => {
        failure = error;
        finished = true;
        push();
      },
    });
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        while (queue.length === 0 && !finished) await new Promise((resolve) => (wake = resolve));
        if (queue.length > 0) return { value: queue.shift(), done: false };
        if (failure) throw failure;
        return { value: undefined, done: true };
      },
      async return() {
        stop();
        return { value: undefined, done: true };
      },
    };
  }

  close() {
    for (const follow of this.follows.values()) this.#end(follow, null, true);
    this.socket.close();
  }

  async #post(init) {
    const response = await fetch(`${this.url}/api/analyze`, { method: "POST", ...init });
    const body = await response.json();
    if (!response.ok) throw new StreamError(body.code ?? response.status, body.error ?? "", null);
    return body;
  }

  #subscribe(follow) {
    if (follow.done) return;
    this.socket.emit("subscribe", follow.resumePayload(), (ack) => {
      if (!ack || ack.ok || follow.done) {
        if (ack?.ok && ack.epoch !== undefined) follow.epoch = ack.epoch;
        return;
      }
      if (RETRYABLE.has(ack.code)) {
        setTimeout(() => this.socket.connected && this.#subscribe(follow), RETRY_MS);
      } else {
        this.#end(follow, new StreamError(ack.code, ack.message, follow.jobId), false);
      }
    });
  }

  #receive(name, data) {
    // An error without seq answers a request (the ack handles it); job events carry a seq.
    if (typeof data?.seq !== "number") return;
    const follow = this.follows.get(data.job_id);
    if (!follow || follow.done) return;
    if (data.seq <= follow.lastSeq) return; // already delivered (a replay overlapping live)
    if (data.seq !== follow.lastSeq + 1) {
      // Never expected from the server; ask again from the last delivered event.
      this.socket.emit("unsubscribe", { job_id: follow.jobId }, () => this.#subscribe(follow));
      return;
    }
    follow.lastSeq = data.seq;
    if (typeof data.duration === "number") follow.duration = data.duration;
    follow.handlers.onEvent?.(data);
    if (TERMINAL.has(name)) this.#end(follow, null, false);
  }

  #end(follow, error, unsubscribe) {
    if (follow.done) return;
    follow.done = true;
    this.follows.delete(follow.jobId);
    if (unsubscribe && this.socket.connected) {
      this.socket.emit("unsubscribe", { job_id: follow.jobId });
    }
    follow.handlers.onEnd?.(error);
  }
}
