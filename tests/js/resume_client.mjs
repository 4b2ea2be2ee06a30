// clients/js under Node: upload a file, stream its job, kill the engine.io transport after
// the fifth chunk, and print every event the stream delivered as JSON.
// Usage: node resume_client.mjs URL AUDIO_FILE
import { openAsBlob } from "node:fs";
import { basename } from "node:path";
import { AudioServiceClient } from "../../clients/js/audio-service-client.js";

const [url, audioFile] = process.argv.slice(2);
setTimeout(() => {
  process.stderr.write("timed out\n");
  process.exit(2);
}, 100_000).unref();

const client = new AudioServiceClient(url, {
  transports: ["websocket"],
  socketOptions: { reconnectionDelay: 100 },
});
const seen = { connects: 0, events: [], droppedAt: null, unknown: null };
client.socket.on("connect", () => seen.connects++);

const job = await client.submitFile(await openAsBlob(audioFile), basename(audioFile));
for await (const event of client.stream(job.job_id)) {
  seen.events.push(event);
  if (event.type === "chunk" && event.timestamp === 4 && seen.droppedAt === null) {
    seen.droppedAt = event.seq;
    client.socket.io.engine.close();
  }
}
try {
  for await (const _ of client.stream("A".repeat(22))) {
    // an unknown job delivers nothing
  }
} catch (error) {
  seen.unknown = { code: error.code, jobId: error.jobId };
}
client.close();
process.stdout.write(JSON.stringify(seen) + "\n");
