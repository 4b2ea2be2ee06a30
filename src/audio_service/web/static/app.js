// The service's own page: submit a file or link, follow the job live, draw it.
import { AudioServiceClient } from "./audio-service-client.js";
import { EMOTION_COLORS, TimeChart } from "./charts.js";

const BAND_COLORS = ["#ef476f", "#ff9f1c", "#ffd166", "#06d6a0", "#5cc8ff"];
const PALETTE = ["#5cc8ff", "#ff9f1c", "#06d6a0", "#ef476f", "#ffd166", "#9b5de5", "#f15bb5"];
const BANDS = ["bass", "low_mid", "mid", "high_mid", "high"];
const REGIONS = [
  "auditory_cortex", "amygdala", "hippocampus", "nucleus_accumbens",
  "motor_cortex", "prefrontal_cortex", "basal_ganglia",
];
const WAVES = ["delta", "theta", "alpha", "beta", "gamma"];
const label = (key) => key.replace(/_/g, " ");
const group = (field, keys, colors) =>
  keys.map((key, i) => ({ label: label(key), color: colors[i], get: (s) => s[field]?.[key] ?? null }));

const $ = (id) => document.getElementById(id);
const charts = [
  { title: "Frequency bands", series: group("frequencies", BANDS, BAND_COLORS), min: 0, max: 1 },
  {
    title: "Loudness",
    series: [
      { label: "loudness (dBFS)", color: "#5cc8ff", get: (s) => s.loudness_db ?? null },
      { label: "LUFS", color: "#ffd166", get: (s) => s.lufs_momentary ?? s.lufs ?? null },
    ],
    min: -40, max: 0, autoscale: true, unit: "dB",
  },
  {
    title: "Local tempo",
    series: [{ label: "tempo (BPM)", color: "#06d6a0", get: (s) => s.tempo ?? null }],
    min: 60, max: 180, autoscale: true, unit: "BPM",
  },
  { title: "Brain regions (indices)", series: group("brain_regions", REGIONS, PALETTE), min: 0, max: 1 },
  { title: "Brainwaves (shares)", series: group("brainwaves", WAVES, BAND_COLORS), min: 0, max: 1 },
  {
    title: "Emotion",
    series: [
      { label: "valence", color: "#ffd166", get: (s) => s.emotion?.valence ?? null },
      { label: "arousal", color: "#ef476f", get: (s) => s.emotion?.arousal ?? null },
    ],
    min: 0, max: 1,
    strip: (s) => EMOTION_COLORS[s.emotion?.primary] ?? "#444",
  },
].map((spec) => new TimeChart($("charts"), spec));

const client = new AudioServiceClient(location.origin);
const page = { client, charts, jobId: null, done: false, stop: null };
window.audioServicePage = page;
const player = $("player");
let objectUrl = null;

function setDuration(seconds) {
  if (typeof seconds === "number" && seconds > 0) charts.forEach((c) => c.setDuration(seconds));
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function start(name) {
  page.stop?.();
  page.done = false;
  charts.forEach((c) => c.reset());
  $("summary").hidden = true;
  $("job").hidden = false;
  $("job-name").textContent = name;
  $("progress").value = 0;
  setStatus("Uploading");
}

function follow(jobId) {
  page.jobId = jobId;
  page.stop = client.follow(jobId, {
    onSubscribed: (info) => setDuration(info.duration),
    onEvent: (event) => {
      if (event.type === "progress") {
        $("progress").value = event.progress;
        setStatus(`${event.message} (${event.progress}%)`);
        setDuration(event.duration);
      } else if (event.type === "chunk") {
        charts.forEach((c) => c.add(event.segment));
      } else if (event.type === "complete") {
        showSummary(event.analysis);
      } else if (event.type === "error") {
        setStatus(`${event.code}: ${event.message}`, true);
      }
    },
    onEnd: (error) => {
      page.done = true;
      if (error) setStatus(`${error.code}: ${error.message}`, true);
    },
  });
}

function fact(title, value) {
  const div = document.createElement("div");
  const b = document.createElement("b");
  b.textContent = value;
  const span = document.createElement("span");
  span.textContent = title;
  div.append(b, span);
  return div;
}

function showSummary(analysis) {
  const bpm = typeof analysis.tempo === "object" ? analysis.tempo?.bpm : analysis.tempo;
  const key = analysis.key ? `${analysis.key} ${analysis.mode ?? ""}`.trim() : "none";
  const minutes = Math.floor(analysis.duration / 60);
  const seconds = Math.round(analysis.duration % 60).toString().padStart(2, "0");
  const sections = analysis.sections ?? [];
  $("summary").replaceChildren(
    fact("tempo", bpm ? `${bpm.toFixed(1)} BPM` : "no steady beat"),
    fact("key", key),
    fact("duration", `${minutes}:${seconds}`),
    fact("overall emotion", analysis.emotion?.primary ?? "-"),
    fact("loudness", analysis.lufs != null ? `${analysis.lufs.toFixed(1)} LUFS` : "-"),
    fact("sections", sections.map((s) => s.label).join(" / ") || "-"),
  );
  $("summary").hidden = false;
  setDuration(analysis.duration);
  charts.forEach((c) => c.setSections(sections));
  $("progress").value = 100;
  setStatus("Analysis complete");
}

async function submitFile(file) {
  start(file.name);
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = URL.createObjectURL(file);
  player.src = objectUrl;
  player.hidden = false;
  try {
    follow((await client.submitFile(file)).job_id);
  } catch (error) {
    setStatus(error.message, true);
  }
}

async function submitUrl(url) {
  start(url);
  player.hidden = true;
  player.removeAttribute("src");
  try {
    follow((await client.submitUrl(url)).job_id);
  } catch (error) {
    setStatus(error.message, true);
  }
}

// The cursor follows the audio on every frame while it plays, and on every seek.
function moveCursor() {
  charts.forEach((c) => c.setCursor(player.src ? player.currentTime : null));
  if (!player.paused) requestAnimationFrame(moveCursor);
}
player.addEventListener("play", () => requestAnimationFrame(moveCursor));
player.addEventListener("seeked", moveCursor);
charts.forEach((c) => {
  c.onSeek = (seconds) => {
    if (player.src) player.currentTime = seconds;
  };
});

const drop = $("drop");
$("file").addEventListener("change", (event) => {
  const [file] = event.target.files;
  if (file) submitFile(file);
});
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const [file] = event.dataTransfer.files;
  if (file) submitFile(file);
});
$("url-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = $("url").value.trim();
  if (url) submitUrl(url);
});
