// examples/follow.mjs: the same with clients/js under Node 20+
import { openAsBlob } from "node:fs";
import { AudioServiceClient } from "../clients/js/audio-service-client.js";

const client = new AudioServiceClient(process.env.AUDIO_SERVICE_URL ?? "http://127.0.0.1:8000");
const job = await client.submitFile(await openAsBlob("song.wav"), "song.wav");
for await (const event of client.stream(job.job_id)) {
  if (event.type === "chunk") console.log(event.timestamp, event.segment.emotion.primary);
  if (event.type === "complete") console.log("tempo", event.analysis.tempo);
}
client.close();
