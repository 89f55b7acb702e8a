// Computing Power Marketplace in Chromium, against the indexer's API over a synthetic market.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { testKey } from "./extension.mjs";
import { REPO_ROOT, launchChromium, openPage, screenshot, syntheticMarket } from "./harness.mjs";

const UNIT = 10n ** 12n;
let market;
let browser;

before(async () => {
  // One after the other: a market that fails to start leaves no browser behind.
  market = await syntheticMarket(2_000);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await market?.stop();
});

async function api(path, body) {
  const response = await fetch(`${market.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, `${path} ${JSON.stringify(body)}`);
  return response.json();
}

/** Waits until the table shows exactly these machines, in this order. */
async function waitForRows(page, ids) {
  await page.waitForFunction(
    (expected) => {
      const shown = [...document.querySelectorAll("tr[data-machine]")].map((row) => row.dataset.machine);
      return JSON.stringify(shown) === JSON.stringify(expected) && !document.querySelector("[aria-busy=true]");
    },
    ids,
    { timeout: 10_000 },
  );
}

const ids = (page) => page.items.map((machine) => machine.machine_id);

test("the market lists the listed machines, cheapest first, a page at a time", async () => {
  const { page, errors, close } = await openPage(browser);
  const first = await api("/api/machine/market", {});
  const second = await api("/api/machine/market", { page: 2 });
  await page.goto(`${market.url}/`);
  await waitForRows(page, ids(first));
  await page.getByText(first.total_exact ? `${first.total} machines match` : `More than ${first.total} machines match`).waitFor();
  await screenshot(page, "market");

  await page.getByRole("button", { name: "Next" }).click();
  await page.waitForURL(/[?&]page=2\b/);
  await waitForRows(page, ids(second));
  await page.goBack();
  await waitForRows(page, ids(first));
  assert.deepEqual(errors, []);
  await close();
});

test("filters narrow the market and stay in the address bar across a reload", async () => {
  const { page, errors, close } = await openPage(browser);
  await page.goto(`${market.url}/market`);
  await page.locator("tr[data-machine]").first().waitFor();
  await page.getByLabel("GPU model").selectOption("NVIDIA H100");
  await page.getByLabel("Region").selectOption("eu-west");
  await page.getByLabel("Price per hour, at most (MAI)").fill("12.5");
  await page.getByLabel("Sort by").selectOption("performance");
  const expected = await api("/api/machine/market", {
    gpu_model: "NVIDIA H100",
    region: "eu-west",
    price_max: (125n * UNIT / 10n).toString(),
    sort: "performance",
  });
  assert.ok(expected.items.length > 0, "the synthetic market has such machines");
  await waitForRows(page, ids(expected));
  for (const machine of expected.items) {
    assert.equal(machine.gpu_model, "NVIDIA H100");
    assert.ok(BigInt(machine.price_per_hour) <= 125n * UNIT / 10n);
  }
  const url = new URL(page.url());
  assert.equal(url.searchParams.get("gpu_model"), "NVIDIA H100");
  assert.equal(url.searchParams.get("price_max"), "12.5");

  await page.reload();
  await waitForRows(page, ids(expected));
  assert.equal(await page.getByLabel("GPU model").inputValue(), "NVIDIA H100");
  assert.equal(await page.getByLabel("Price per hour, at most (MAI)").inputValue(), "12.5");
  await page.getByRole("button", { name: "Clear filters" }).click();
  await waitForRows(page, ids(await api("/api/machine/market", {})));
  assert.deepEqual(errors, []);
  await close();
});

test("a filter that cannot be read is explained and left out of the query", async () => {
  const { page, close } = await openPage(browser);
  await page.goto(`${market.url}/market?price_max=abc&disk_gb_min=-3`);
  await page.getByText("Expected an amount in MAI, such as 2.5").waitFor();
  await page.getByText("Expected a whole number from 0").waitFor();
  assert.equal(await page.getByLabel("Price per hour, at most (MAI)").getAttribute("aria-invalid"), "true");
  await waitForRows(page, ids(await api("/api/machine/market", {})));
  await close();
});

test("no match shows the empty state, an unknown address its own page", async () => {
  const { page, close } = await openPage(browser);
  await page.goto(`${market.url}/market?price_max=0.0001`);
  await page.getByText("No machine matches these filters.").waitFor();
  await page.goto(`${market.url}/no/such/page`);
  await page.getByRole("heading", { name: "No such page" }).waitFor();
  const unknown = await fetch(`${market.url}/api/no-such-endpoint`);
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).code, "not_found");
  await close();
});

test("on a phone the page fits the screen; the table scrolls on its own", async () => {
  const { page, close } = await openPage(browser, { viewport: { width: 390, height: 844 } });
  await page.goto(`${market.url}/market`);
  await page.locator("tr[data-machine]").first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await screenshot(page, "market-phone");
  await close();
});

test("with the indexer down the page says so and offers to try again", async () => {
  const small = await syntheticMarket(30);
  const { page, close } = await openPage(browser);
  await page.goto(`${small.url}/market`);
  await page.locator("tr[data-machine]").first().waitFor();
  await small.kill();
  await page.getByLabel("Sort by").selectOption("reliability");
  await page.getByRole("alert").filter({ hasText: "The indexer cannot be reached" }).waitFor();
  await page.getByRole("button", { name: "Try again" }).waitFor();
  await close();
});

test("Edit Model shows the estimate before paying and explains a bad field, a low price limit and a node that is down", async () => {
  const charlie = testKey("//Charlie");
  const { page, wallet, errors, close } = await openPage(browser, { wallet: [charlie] });
  const machine = (await api("/api/machine/market", {})).items.find((item) => item.available);
  const iris = JSON.parse(readFileSync(join(REPO_ROOT, "crates/pot/specs/iris-softmax.json"), "utf8"));
  const expected = await api("/api/order/estimate", { spec: iris, machine_id: machine.machine_id });
  await page.goto(`${market.url}/market`);
  await page.getByRole("link", { name: `Rent machine ${machine.machine_id.slice(0, 8)}` }).click();
  await page.waitForURL(/\/rent\?machine=/);
  await page.getByLabel("Account").selectOption(charlie.address);
  await page.getByTestId("estimate-hours").filter({ hasText: String(expected.hours) }).waitFor();
  await page.getByText(expected.spec_sha256).waitFor();
  await page.getByTestId("escrow").filter({ hasText: "Held in escrow" }).waitFor();
  const placeOrder = page.getByRole("button", { name: "Place order" });

  // The same rules as matrixai-pot, through the indexer: the field is named and marked.
  await page.getByLabel("Batch size").fill("0");
  await page.getByRole("alert").filter({ hasText: "batch_size must be in 1..=65536, got 0" }).waitFor();
  assert.equal(await page.getByLabel("Batch size").getAttribute("aria-invalid"), "true");
  assert.equal(await placeOrder.isDisabled(), true);
  await page.getByLabel("Batch size").fill("7");
  await page.getByLabel("units").fill("4");
  await page.getByRole("alert").filter({ hasText: "the last layer must be dense with 3 units" }).waitFor();
  await page.getByLabel("units").fill("3");
  await page.getByLabel("Learning rate").fill("fast");
  await page.getByRole("alert").filter({ hasText: 'optimizer.lr must be a number such as 0.05, not "fast"' }).waitFor();
  await page.getByLabel("Learning rate").fill("0.05");
  await page.getByTestId("estimate-hours").filter({ hasText: String(expected.hours) }).waitFor();

  await page.getByLabel("Price limit per hour (MAI)").fill("0.0001");
  await page.getByText(/Your limit of 0\.0001 MAI an hour is below the machine's price of [\d.]+ MAI: the chain would refuse the order\./).waitFor();
  assert.equal(await placeOrder.isDisabled(), true);
  await page.getByLabel("Price limit per hour (MAI)").fill("1000");

  // The synthetic market has no chain: nothing can be signed or sent.
  await page.getByText("cannot be reached; retrying. The order cannot be sent until the node answers.").waitFor();
  assert.equal(await placeOrder.isDisabled(), true);
  await placeOrder.scrollIntoViewIfNeeded();
  await screenshot(page, "edit-model");
  await placeOrder.click({ force: true });
  assert.equal(wallet.signed, 0, "nothing signed");

  await page.goto(`${market.url}/rent`);
  await page.getByText("Choose a machine to train on in the").waitFor();
  assert.deepEqual(errors, []);
  await close();
});
