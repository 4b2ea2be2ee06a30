// Follows one job with the official socket.io-client and prints what it saw as JSON.
// Usage: node stream_client.mjs URL TRANSPORT  (reads the job id from stdin once connected)
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, transport] = process.argv.slice(2);
const seen = { connected: [], subscribed: [], ack: null, events: [] };
const socket = io(url, { transports: [transport], reconnection: false });
const done = (code) => {
  process.stdout.write(JSON.stringify(seen) + "\n");
  socket.close();
  process.exit(code);
};
setTimeout(() => done(2), 60000);

socket.on("connected", (data) => {
  seen.connected.push(data);
  process.stdout.write("READY\n");
});
socket.on("subscribed", (data) => seen.subscribed.push(data));
for (const name of ["progress", "chunk", "complete", "error"]) {
  socket.on(name, (data) => {
    seen.events.push([name, data]);
    if (name === "complete" || name === "error") done(0);
  });
}
socket.on("connect_error", (err) => {
  seen.connect_error = String(err);
  done(3);
});
createInterface({ input: process.stdin }).on("line", async (jobId) => {
  seen.ack = await socket.emitWithAck("subscribe", { job_id: jobId.trim() });
});
