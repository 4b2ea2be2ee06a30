// Drives the service's page in Debian's Chromium: upload a file through the page, blink the
// connection mid-job, wait for the charts and the summary, and report what was seen as JSON.
// Usage: node page_check.mjs CHROMIUM URL AUDIO_FILE SCREENSHOT
import { chromium } from "playwright-core";

const [executablePath, url, audioFile, screenshot] = process.argv.slice(2);
const DEADLINE_MS = 120_000;
const report = { requests: [], websockets: [], console: [], pageErrors: [] };

const browser = await chromium.launch({
  executablePath,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("request", (request) => report.requests.push(request.url()));
  page.on("websocket", (socket) => report.websockets.push(socket.url()));
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") {
      report.console.push(`${message.type()}: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));

  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.audioServicePage?.client.socket.connected, null, {
    timeout: DEADLINE_MS,
  });
  await page.setInputFiles("#file", audioFile);

  // A network blink mid-job: the engine.io transport dies, socket.io-client reconnects,
  // and the page's client resumes from the last seq it drew.
  await page.waitForFunction(() => window.audioServicePage.charts[0].times.length >= 5, null, {
    timeout: DEADLINE_MS,
  });
  report.pointsAtBlink = await page.evaluate(() => {
    const { client, charts } = window.audioServicePage;
    client.socket.io.engine.close();
    return charts[0].times.length;
  });
  await page.waitForFunction(() => window.audioServicePage.done, null, { timeout: DEADLINE_MS });
  await page.waitForSelector("#summary:not([hidden])", { timeout: DEADLINE_MS });

  report.reconnected = await page.evaluate(() => window.audioServicePage.client.socket.connected);
  report.charts = await page.evaluate(() =>
    window.audioServicePage.charts.map((chart) => ({
      title: chart.spec.title,
      times: chart.times,
      drawn: Number(chart.canvas.dataset.points),
      duration: chart.duration,
      sections: chart.sections.length,
    })),
  );
  report.summary = await page.locator("#summary").innerText();
  report.status = await page.locator("#status").innerText();
  report.progress = await page.locator("#progress").evaluate((bar) => bar.value);

  // The audio plays in the page, and the cursor of every chart follows it.
  const player = page.locator("#player");
  report.audioSrc = await player.evaluate((audio) => audio.src);
  report.cursor = await player.evaluate(async (audio) => {
    audio.currentTime = 10;
    await new Promise((resolve) => audio.addEventListener("seeked", resolve, { once: true }));
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const cursors = [...document.querySelectorAll(".cursor")];
    return {
      time: audio.currentTime,
      duration: audio.duration,
      left: cursors.map((c) => c.style.left),
      shown: cursors.every((c) => c.style.display === "block"),
    };
  });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report) + "\n");
