// The second reference of bench/bench_fanout.py: Node Socket.IO 4.8, the reference
// implementation, with a room per job and io.to(room).emit, exactly as bench/servers/bare.py
// does with python-socketio. Same events and payloads (`connected` on connect, `subscribed`
// plus an acknowledgement on subscribe, the naive replay of a room's history to a late
// subscriber), same Socket.IO settings (websocket and polling, no per-message deflate, no
// HTTP compression, 64 KiB messages), and the same /_bench/* control routes with the same
// publisher logic as bench/servers/control.py (flow control, pacing, staggered phases).
//
//   node --expose-gc server.mjs PORT POOL.json
//
// POOL.json holds the synthetic chunk segments (control.segment_pool()), written by the
// orchestrator so that all three servers send byte-for-byte the same segments.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Server } from "socket.io";

// The same constants as bench/servers/control.py.
const FLOW_EVERY = 16;
const FLOW_LIMIT = 128;

const [port, poolFile] = process.argv.slice(2);
const pool = JSON.parse(readFileSync(poolFile, "utf8"));
const history = new Map(); // job id -> [[name, payload], ...]
const now = () => (performance.timeOrigin + performance.now()) / 1000; // epoch s
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const http = createServer(control);
const io = new Server(http, {
  cors: { origin: ["http://localhost:3000"] },
  httpCompression: false,
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
});

io.on("connection", (socket) => {
  socket.emit("connected", { type: "connected", job_id: "" });
  socket.on("subscribe", (data, ack) => {
    const jobId = data.job_id;
    const events = history.get(jobId);
    const lastSeq = events.length;
    socket.emit("subscribed", { job_id: jobId, status: "analyzing", progress: 0, last_seq: lastSeq });
    for (const [name, payload] of events) socket.emit(name, payload);
    socket.join(jobId);
    ack({ ok: true, job_id: jobId, status: "analyzing", last_seq: lastSeq });
  });
});

// The same job id shape as audio_service.jobs.models.new_job_id (22 url-safe characters).
const newJob = () => {
  const jobId = randomBytes(16).toString("base64url");
  history.set(jobId, []);
  return jobId;
};

function emit(jobId, name, body) {
  const events = history.get(jobId);
  const payload = { job_id: jobId, seq: events.length + 1, ...body, type: name };
  events.push([name, payload]);
  io.to(jobId).emit(name, payload);
}

const segment = (index) => ({ ...pool[index % pool.length], t: now() });
const chunk = (jobId, index) =>
  emit(jobId, "chunk", { timestamp: index, segment: segment(index) });

// Packets waiting per socket: engine.io's write buffer fills while the websocket's previous
// write has not completed, as python-engineio's queue does while its writer is busy.
function backlog() {
  let most = 0;
  for (const client of Object.values(io.engine.clients)) most = Math.max(most, client.writeBuffer.length);
  return most;
}

async function burst(jobId, count) {
  const start = now();
  for (let index = 0; index < count; index++) {
    chunk(jobId, index);
    if (index % FLOW_EVERY === FLOW_EVERY - 1) {
      while (backlog() > FLOW_LIMIT) await sleep(1);
    }
  }
  return start;
}

async function paced(jobs, rate, seconds) {
  const count = Math.round(rate * seconds);
  const one = async (jobId, phase) => {
    const begin = performance.now() + (1000 * phase) / rate;
    for (let index = 0; index < count; index++) {
      await sleep(Math.max(0, begin + (1000 * index) / rate - performance.now()));
      chunk(jobId, index);
    }
  };
  await Promise.all(jobs.map((jobId, i) => one(jobId, i / jobs.length)));
  return count * jobs.length;
}

function finishedJob(chunks) {
  const jobId = newJob();
  for (let index = 0; index < chunks; index++) chunk(jobId, index);
  emit(jobId, "complete", { analysis: { duration: chunks, tempo: 120.0 } });
  return jobId;
}

const commands = {
  job: async () => ({ job_id: newJob() }),
  burst: async (args) => ({ start: await burst(args.job_id, args.count) }),
  paced: async (args) => ({ published: await paced(args.jobs, args.rate, args.seconds) }),
  "finished-job": async (args) => ({ job_id: finishedJob(args.chunks) }),
  gc: async () => {
    global.gc();
    return {};
  },
  ping: async () => ({}),
};

// POST /_bench/<command> with a JSON body. Socket.IO answers /socket.io/ before this runs.
function control(req, res) {
  const command = req.url.startsWith("/_bench/") && commands[req.url.slice("/_bench/".length)];
  if (!command) {
    res.writeHead(404).end();
    return;
  }
  let body = "";
  req.on("data", (data) => (body += data));
  req.on("end", async () => {
    try {
      const reply = await command(JSON.parse(body || "{}"));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply));
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
}

http.listen(Number(port), "127.0.0.1");
