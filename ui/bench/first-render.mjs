// The web UI's figures (docs/benchmarks.md, "Web UI"): `npm run bench` in ui/ after
// `npm run build` and the indexer's `synthetic_market` example are built.
//
// 1. Production bundle of the first page: every script and stylesheet the market page loads,
//    gzipped (level 9), against the goal of 500 kB.
// 2. Time to first market render against a market of 10 000 machines: from navigation start to
//    the first row of machines on screen, in a fresh browser context each run; the anchor is
//    the market query the page sends, timed from inside the same page.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DIST, launchChromium, openPage, syntheticMarket } from "../tests/harness.mjs";

const MACHINES = 10_000;
const RUNS = 7;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const market = await syntheticMarket(MACHINES);
const browser = await launchChromium();
try {
  const renders = [];
  const queries = [];
  let assets = [];
  for (let run = 0; run < RUNS; run++) {
    const { page, close } = await openPage(browser);
    await page.goto(`${market.url}/market`);
    await page.locator("tr[data-machine]").first().waitFor();
    renders.push(await page.evaluate(() => performance.now()));
    queries.push(
      await page.evaluate(async () => {
        const started = performance.now();
        const response = await fetch("/api/machine/market", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
        await response.json();
        return performance.now() - started;
      }),
    );
    assets = await page.evaluate(() =>
      performance
        .getEntriesByType("resource")
        .map((entry) => new URL(entry.name).pathname)
        .filter((path) => path.startsWith("/assets/")),
    );
    await close();
  }
  const sizes = assets.map((path) => {
    const bytes = readFileSync(join(DIST, path));
    return { path, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  const total = sizes.reduce((sum, size) => sum + size.gzip, 0);
  console.log("### First page bundle (gzip -9)\n");
  console.log("| asset | bytes | gzipped |\n|---|---:|---:|");
  for (const size of sizes) console.log(`| ${size.path.replace(/-[\w-]{8}\./, ".")} | ${size.raw} | ${size.gzip} |`);
  console.log(`| **total** | ${sizes.reduce((sum, size) => sum + size.raw, 0)} | **${total}** (${(total / 1000).toFixed(1)} kB; goal ≤ 500 kB) |`);
  const render = median(renders);
  const query = median(queries);
  console.log(`\n### Time to first market render, ${MACHINES} machines, median of ${RUNS} fresh contexts\n`);
  console.log("| measure | ms |\n|---|---:|");
  console.log(`| navigation start → first row on screen | ${render.toFixed(0)} (goal ≤ 1000) |`);
  console.log(`| anchor: the page's market query alone | ${query.toFixed(1)} |`);
  console.log(`| ratio render / query | ${(render / query).toFixed(1)} |`);
} finally {
  await browser.close();
  await market.stop();
}
