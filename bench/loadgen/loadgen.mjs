// The load generator of bench/bench_fanout.py: many official socket.io-client connections
// in one Node process, driven by JSON commands on stdin (one per line, answered by one JSON
// line on stdout). Every connection is its own engine.io session over the websocket
// transport (forceNew), as separate browsers would be.
//
// Commands: {cmd: "connect", url, n} | {cmd: "subscribe", jobs, count, offset, latency}
//   | {cmd: "expect", timeout} | {cmd: "disconnect"}. A run starts at "subscribe" (socket i
// follows jobs[(offset + i) % jobs.length]) and ends when every socket has received
// ``count`` job events, or at the timeout of "expect". With ``latency``, "expect" also
// returns every chunk's delay from the server's publish time (segment.t) to its receipt.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";

const JOB_EVENTS = ["progress", "chunk", "complete", "error"];
const CONNECT_BATCH = 200;
const now = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms precision

let sockets = [];
let run = null; // the measurement in progress: counters shared by every socket's handlers

function newRun(count, latency) {
  return {
    count,
    latency,
    done: 0,
    first: Infinity,
    last: 0,
    received: 0,
    orderErrors: 0,
    latencies: [],
    resolve: null,
  };
}

function track(state, socket) {
  for (const name of JOB_EVENTS) {
    socket.on(name, (data) => {
      const t = now();
      const r = run;
      if (r === null || data.job_id === undefined) return;
      if (data.job_id !== state.job) return;
      if (state.lastSeq !== 0 && data.seq !== state.lastSeq + 1) r.orderErrors++;
      state.lastSeq = data.seq;
      state.received++;
      r.received++;
      if (t < r.first) r.first = t;
      r.last = t;
      if (r.latency && data.segment && data.segment.t) r.latencies.push(t - data.segment.t * 1000);
      if (state.received === r.count) {
        r.done++;
        if (r.done === sockets.length && r.resolve) r.resolve();
      }
    });
  }
}

function open(url) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
    const state = { socket, received: 0, lastSeq: 0 };
    socket.once("connected", () => resolve(state));
    socket.once("connect_error", (err) => reject(err));
    track(state, socket);
  });
}

async function connect({ url, n }) {
  const start = now();
  for (let i = 0; i < n; i += CONNECT_BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + CONNECT_BATCH); j++) batch.push(open(url));
    sockets.push(...(await Promise.all(batch)));
  }
  return { sockets: sockets.length, ms: now() - start };
}

async function subscribe({ jobs, count, offset, latency }) {
  sockets.forEach((state, i) => {
    state.job = jobs[(offset + i) % jobs.length];
    state.received = 0;
    state.lastSeq = 0;
  });
  run = newRun(count, latency);
  run.cpu0 = process.cpuUsage();
  run.wall0 = now();
  const start = now();
  const acks = await Promise.all(
    sockets.map((state, i) =>
      state.socket.timeout(30000).emitWithAck("subscribe", { job_id: state.job }),
    ),
  );
  const refused = acks.filter((ack) => !ack || ack.ok !== true);
  if (refused.length) throw new Error(`subscribe refused: ${JSON.stringify(refused[0])}`);
  run.start = start;
  return { start, ms: now() - start };
}

async function expect({ timeout }) {
  const r = run;
  let timer;
  const timedOut = await new Promise((resolve) => {
    r.resolve = () => resolve(false);
    if (r.done === sockets.length) resolve(false);
    timer = setTimeout(() => resolve(true), timeout * 1000);
  });
  clearTimeout(timer);
  const cpu = process.cpuUsage(r.cpu0);
  run = null;
  return {
    timedOut,
    received: r.received,
    start: r.start,
    first: r.first,
    last: r.last,
    orderErrors: r.orderErrors,
    latencies: r.latencies.map((ms) => Math.round(ms * 1000) / 1000),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: (now() - r.wall0) / 1000,
  };
}

async function disconnect() {
  for (const state of sockets) state.socket.close();
  sockets = [];
  return {};
}

const commands = { connect, subscribe, expect, disconnect };
createInterface({ input: process.stdin }).on("line", async (line) => {
  const request = JSON.parse(line);
  let reply;
  try {
    reply = { ok: true, ...(await commands[request.cmd](request)) };
  } catch (err) {
    reply = { ok: false, error: String(err) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
process.stdin.on("end", () => process.exit(0));
