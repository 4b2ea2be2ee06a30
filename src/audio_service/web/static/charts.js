// Time-series charts on <canvas>, drawn only when something changed (one frame at most),
// so a 10-minute song (600 points per series) stays smooth without a chart library.

export const EMOTION_COLORS = {
  happy: "#ffd166", sad: "#5b7bd6", angry: "#ef476f", calm: "#7bd389", excited: "#ff9f1c",
  fearful: "#9b5de5", energetic: "#f15bb5", melancholic: "#4d6a91", uplifting: "#00bbf9",
  tense: "#c1121f", peaceful: "#90e0ef",
};
const SECTION_SHADES = ["rgba(255,255,255,0.035)", "rgba(92,200,255,0.07)"];
const dirty = new Set();
let frame = 0;

function schedule(chart) {
  dirty.add(chart);
  if (!frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      for (const each of dirty) each.draw();
      dirty.clear();
    });
  }
}

export class TimeChart {
  /**
   * @param {HTMLElement} parent
   * @param {{title: string, series: {label: string, color: string, get: Function}[],
   *          min: number, max: number, autoscale?: boolean, unit?: string,
   *          strip?: Function}} spec  `get(segment)` gives a value or null; `strip(segment)`
   *          a colour for a band under the plot (the emotion of each second).
   */
  constructor(parent, spec) {
    this.spec = spec;
    this.times = [];
    this.ends = [];
    this.values = spec.series.map(() => []);
    this.strip = [];
    this.duration = 0;
    this.sections = [];
    this.onSeek = null;
    const box = document.createElement("div");
    box.className = "chart";
    box.innerHTML = `<h2></h2><div class="legend"></div>` +
      `<div class="plot"><canvas></canvas><div class="cursor"></div></div>`;
    box.querySelector("h2").textContent = spec.title;
    for (const series of spec.series) {
      // Colours set through the CSSOM: the page's CSP forbids inline style attributes.
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = series.color;
      item.append(swatch, series.label);
      box.querySelector(".legend").append(item);
    }
    parent.append(box);
    this.canvas = box.querySelector("canvas");
    this.canvas.dataset.chart = spec.title;
    this.canvas.dataset.points = "0";
    this.cursor = box.querySelector(".cursor");
    this.plot = box.querySelector(".plot");
    this.plot.addEventListener("click", (event) => {
      const rect = this.plot.getBoundingClientRect();
      if (this.onSeek && this.span() > 0) {
        this.onSeek(((event.clientX - rect.left) / rect.width) * this.span());
      }
    });
    new ResizeObserver(() => schedule(this)).observe(this.plot);
  }

  reset() {
    this.times = [];
    this.ends = [];
    this.values = this.spec.series.map(() => []);
    this.strip = [];
    this.duration = 0;
    this.sections = [];
    this.setCursor(null);
    schedule(this);
  }

  span() {
    return Math.max(this.duration, this.ends.length ? this.ends[this.ends.length - 1] : 0);
  }

  setDuration(seconds) {
    this.duration = seconds;
    schedule(this);
  }

  setSections(sections) {
    this.sections = sections;
    schedule(this);
  }

  add(segment) {
    this.times.push(segment.start_time);
    this.ends.push(segment.end_time);
    this.spec.series.forEach((s, i) => this.values[i].push(s.get(segment)));
    if (this.spec.strip) this.strip.push(this.spec.strip(segment));
    schedule(this);
  }

  setCursor(seconds) {
    const span = this.span();
    if (seconds === null || span <= 0) {
      this.cursor.style.display = "none";
      return;
    }
    this.cursor.style.display = "block";
    this.cursor.style.left = `${Math.min(100, (seconds / span) * 100)}%`;
  }

  #range() {
    let { min, max } = this.spec;
    if (this.spec.autoscale) {
      for (const series of this.values) {
        for (const v of series) {
          if (v === null || !Number.isFinite(v)) continue;
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
    }
    return [min, max === min ? min + 1 : max];
  }

  draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.plot.clientWidth * ratio));
    const height = Math.max(1, Math.round(this.plot.clientHeight * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const span = this.span();
    this.canvas.dataset.points = String(this.times.length);
    if (span <= 0) return;
    const stripHeight = this.spec.strip ? 8 * ratio : 0;
    const plotHeight = height - stripHeight - 2 * ratio;
    const x = (t) => (t / span) * width;
    const [min, max] = this.#range();
    const y = (v) => plotHeight - ((v - min) / (max - min)) * (plotHeight - 4 * ratio) - 2 * ratio;
    this.sections.forEach((section, i) => {
      ctx.fillStyle = SECTION_SHADES[i % 2];
      ctx.fillRect(x(section.start), 0, x(section.end) - x(section.start), plotHeight);
      ctx.fillStyle = "#8a93ad";
      ctx.font = `${10 * ratio}px system-ui, sans-serif`;
      ctx.fillText(section.label, x(section.start) + 3 * ratio, 11 * ratio);
    });
    ctx.lineWidth = 1.5 * ratio;
    ctx.lineJoin = "round";
    this.spec.series.forEach((series, i) => {
      ctx.strokeStyle = series.color;
      ctx.beginPath();
      let pen = false;
      const values = this.values[i];
      for (let k = 0; k < values.length; k++) {
        const v = values[k];
        if (v === null || !Number.isFinite(v)) {
          pen = false;
          continue;
        }
        const px = x((this.times[k] + this.ends[k]) / 2);
        if (pen) ctx.lineTo(px, y(v));
        else ctx.moveTo(px, y(v));
        pen = true;
      }
      ctx.stroke();
    });
    for (let k = 0; k < this.strip.length; k++) {
      ctx.fillStyle = this.strip[k] || "#333";
      ctx.fillRect(x(this.times[k]), height - stripHeight, x(this.ends[k]) - x(this.times[k]) + 0.5, stripHeight);
    }
    ctx.fillStyle = "#8a93ad";
    ctx.font = `${10 * ratio}px system-ui, sans-serif`;
    const unit = this.spec.unit ? ` ${this.spec.unit}` : "";
    // Range labels on the left, under the section names.
    ctx.fillText(`${+max.toFixed(1)}${unit}`, 3 * ratio, 24 * ratio);
    ctx.fillText(`${+min.toFixed(1)}${unit}`, 3 * ratio, plotHeight - 3 * ratio);
  }
}
