// The dashboard in a real browser (Debian's Chromium driven by playwright-core), against a real
// `ringmaster run` job (issue 26): the jobs list shows it; its training curve gains a point when an
// epoch ends; the log tail shows a replica's new line; Suspend then Resume from the page change the
// job's phase; the per-second step records draw the loss per step and the step-time split; the
// sweep page shows the best trial and its plots; Stop on a running sweep's page stops it; Delete
// removes the job. With SCREENSHOTS=DIR, the pages' screenshots are written there.
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
  const stepPoints = async () => Number(await page.locator('.chart[data-series="loss"]').getAttribute("data-steps", { timeout: 500 }));
  check("... and a line of the loss per step, a point a second", await within(20000, async () => (await stepPoints()) >= 2));
  check("... the step time split into compute, allreduce wait and data wait, live",
    await within(10000, async () => Number(await page.locator("#split-chart").getAttribute("data-steps", { timeout: 500 })) >= 2 &&
      /^time per step now \(step \d+\): compute [0-9.]+ ms, waiting for the allreduce [0-9.]+ ms, waiting for data [0-9.]+ ms$/
        .test(await page.locator("#split").textContent())));
  check("... and each replica's GPUs (none asked for here)",
    (await page.locator(`tr[data-replica="${job}-master-0"] td.gpus`).textContent()) === "-");
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

  await page.goto(`${base}/#/sweeps/shell-slow`);
  const state = async () => (await page.locator("#state").textContent({ timeout: 500 })).trim();
  check("a sweep its driver runs shows Running", await within(10000, async () => (await state()) === "Running"));
  await within(10000, async () => !(await page.locator("#stop").isDisabled()));
  await page.click("#stop");
  check("... Stop from the page stops it", await within(20000, async () => (await state()) === "Stopped"));
  check("... its running trials with it",
    await within(5000, async () => (await page.locator('#trials td.phase-Stopped').count()) === 2));

  await page.goto(`${base}/#/jobs/${job}`);
  await page.waitForSelector("#delete");
  await page.click("#delete");
  check("Delete from the job's page removes the job and goes back to the list",
    await within(30000, async () => (await page.evaluate(() => location.hash)) === "#/" &&
      (await page.locator("#jobs").count()) === 1 && (await page.locator(`tr[data-job="${job}"]`).count()) === 0));
  await browser.close();
  process.exit(failures ? 1 : 0);
})().catch((e) => {
  console.log(`FAIL: ${e.message}`);
  process.exit(1);
});
