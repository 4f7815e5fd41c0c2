// The dashboard in a real browser (Debian's Chromium driven by playwright-core), against a real
// `ringmaster run` job (issue 26): the jobs list shows it; its training curve gains a point when an
// epoch ends; the log tail shows a replica's new line; Suspend then Resume from the page change the
// job's phase; the sweep page shows the best trial and its plots. With SCREENSHOTS=DIR, the pages'
// screenshots are written there.
// Usage: node dashboard_test.cjs DASHBOARD_URL JOB   (tests/cli/dashboard_browser_test.sh runs it)
"use strict";
const path = require("path");
const { chromium } = require(path.join(__dirname, "../../web/node_modules/playwright-core"));

const [url, job] = process.argv.slice(2);
const base = url.replace(/\/\?token=.*$/, "");
let failures = 0;
const check = (what, ok) => {
  console.log(`${ok ? "ok" : "FAIL"}: ${what}`);
  if (!ok) failures++;
};
const within = async (ms, probe) => {  // polls probe() until it is true or ms pass
  const end = Date.now() + ms;
  for (;;) {
    if (await probe().catch(() => false)) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
};

(async () => {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("dialog", (d) => d.accept());  // the actions' confirmation
  await page.goto(url);  // sets the token cookie; the page's requests carry it
  check("the jobs list shows the job the test started",
    await within(10000, async () => (await page.locator(`tr[data-job="${job}"]`).count()) === 1));
  if (process.env.SCREENSHOTS) await page.screenshot({ path: path.join(process.env.SCREENSHOTS, "dashboard-jobs.png") });

  await page.goto(`${base}/#/jobs/${job}`);
  const points = async () => Number(await page.locator('.chart[data-series="loss"]').getAttribute("data-points", { timeout: 500 }));
  check("the job page draws its loss curve", await within(20000, async () => (await points()) >= 1));
  const before = await points().catch(() => 0);
  check(`the curve gains a point when an epoch ends (had ${before})`, await within(30000, async () => (await points()) > before));
  const logLines = async () => (await page.locator("#log").textContent()).split("\n").filter(Boolean).length;
  const linesBefore = await logLines();
  check(`the log tail shows the replica's new lines (had ${linesBefore})`, await within(30000, async () => (await logLines()) > linesBefore));
  if (process.env.SCREENSHOTS) await page.screenshot({ path: path.join(process.env.SCREENSHOTS, "dashboard-job.png"), fullPage: true });

  const phase = async () => (await page.locator("#phase").textContent({ timeout: 500 })).trim();
  await page.click("#suspend");
  check("Suspend from the page suspends the job", await within(20000, async () => (await phase()) === "Suspended"));
  await page.click("#resume");
  check("Resume from the page runs it again", await within(20000, async () => (await phase()) === "Running"));
  await page.goto(`${base}/#/sweeps`);
  check("the sweeps list shows the experiment",
    await within(10000, async () => (await page.locator('tr[data-sweep="random-search"]').count()) === 1));
  await page.goto(`${base}/#/sweeps/random-search`);
  check("the sweep page shows the best trial",
    await within(10000, async () => (await page.locator("#best").textContent({ timeout: 500 })).startsWith("random-search-b")));
  check("... the objective of every trial, and each trial's curve",
    await within(10000, async () => Number(await page.locator("#objective").getAttribute("data-points", { timeout: 500 })) === 3 &&
      Number(await page.locator("#trial-curves").getAttribute("data-trials", { timeout: 500 })) === 3));
  check("... the parallel coordinates of parameters against the objective, a line per trial",
    Number(await page.locator("#parallel").getAttribute("data-lines")) === 3 &&
      (await page.locator("#parallel svg path").count()) >= 3);
  check("... and medianstop's decision", (await page.locator('tr[data-trial="random-search-c"]').textContent()).includes("EarlyStopped"));
  if (process.env.SCREENSHOTS) await page.screenshot({ path: path.join(process.env.SCREENSHOTS, "dashboard-sweep.png"), fullPage: true });
  await browser.close();
  process.exit(failures ? 1 : 0);
})().catch((e) => {
  console.log(`FAIL: ${e.message}`);
  process.exit(1);
});
