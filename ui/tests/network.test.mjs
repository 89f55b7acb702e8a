// The UI against the whole marketplace started as the README starts it (scripts/run.sh): the
// chain through polkadot-api, the wallet, the faucet's work and claim, the market from the
// indexer's index of the chain.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { testKey } from "./extension.mjs";
import { BIN, REPO_ROOT, launchChromium, marketplace, openPage, screenshot } from "./harness.mjs";

let network;
let browser;

before(async () => {
  network = await marketplace();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await network?.stop();
});

test("the market shows the trainer agent's machine and the chain's finalized head", async () => {
  const { page, errors, close } = await openPage(browser, { nodeUrl: network.nodeUrl });
  await page.goto(`${network.url}/market`);
  await page.locator(`tr[data-machine="${network.machine}"]`).waitFor();
  const first = Number(await page.locator("[data-finalized]").getAttribute("data-finalized"));
  await page.waitForFunction((before) => Number(document.querySelector("[data-finalized]")?.dataset.finalized) > before, first, {
    timeout: 30_000,
  });
  assert.deepEqual(errors, []);
  await close();
});

/** The node's finalized block number, asked over its HTTP JSON-RPC. */
async function finalizedNumber(nodeUrl) {
  const call = async (method, params = []) => {
    const response = await fetch(nodeUrl.replace(/^ws/, "http"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    return (await response.json()).result;
  };
  const header = await call("chain_getHeader", [await call("chain_getFinalizedHead")]);
  return Number.parseInt(header.number, 16);
}

test("the light client in the browser (smoldot) syncs to the chain's finalized head", async () => {
  const { page, errors, close } = await openPage(browser, { nodeUrl: network.nodeUrl });
  await page.goto(`${network.url}/settings`);
  await page.getByLabel("the light client in this browser (smoldot)").check();
  await page.getByRole("button", { name: "Save and reconnect" }).click();
  await page.locator(".chain").filter({ hasText: /^Light client/ }).waitFor();
  const head = await finalizedNumber(network.nodeUrl);
  await page.waitForFunction(
    (target) => Number(document.querySelector('[data-connection="light"]')?.dataset.finalized) >= target,
    head,
    { timeout: 180_000 },
  );
  await page.getByTestId("connection-status").filter({ hasText: /through the light client, block #\d+ finalized/ }).waitFor();
  await page.locator(".chain").filter({ hasText: /^Light client · synced, [1-9]\d* peers? · Block #\d+ finalized$/ }).waitFor({ timeout: 60_000 });
  await screenshot(page, "light-client");
  assert.deepEqual(errors, []);
  await close();
});

test("a fresh account from the wallet claims from the faucet once; a refused signature sends nothing", async () => {
  const newcomer = testKey(`//ui-faucet-${Date.now()}`);
  const { page, wallet, errors, close } = await openPage(browser, { nodeUrl: network.nodeUrl, wallet: [newcomer] });
  await page.goto(`${network.url}/faucet`);
  await page.getByLabel("Account").selectOption(newcomer.address);
  await page.getByTestId("balance").filter({ hasText: "0 MAI" }).waitFor();
  const claim = page.getByRole("button", { name: /^Claim / });

  wallet.refuse = true;
  await claim.click();
  await page.getByRole("alert").filter({ hasText: "The signature was refused in the wallet; nothing was sent." }).waitFor({ timeout: 60_000 });
  assert.equal(wallet.signed, 0);

  wallet.refuse = false;
  await claim.click();
  await page.getByText("Solving the work").waitFor();
  await page.getByRole("status").filter({ hasText: /^Claimed 1,000 MAI in block #\d+/ }).waitFor({ timeout: 90_000 });
  await page.getByTestId("balance").filter({ hasText: "1,000 MAI" }).waitFor();
  await page.getByTestId("header-balance").filter({ hasText: "1,000 MAI" }).waitFor();
  assert.equal(wallet.signed, 1, "one claim signed, one sent");
  await page.getByTestId("next-claim").filter({ hasText: /^at block #\d+/ }).waitFor();
  assert.equal(await claim.isDisabled(), true, "no second claim within the cooldown");
  await screenshot(page, "faucet");
  assert.deepEqual(errors, []);
  await close();
});

test("on a development chain the dev accounts are offered beside the wallet's", async () => {
  const { page, close } = await openPage(browser, { nodeUrl: network.nodeUrl });
  await page.goto(`${network.url}/faucet`);
  const options = page.locator("#account-select optgroup[label^='Dev accounts'] option");
  await options.first().waitFor({ state: "attached" });
  assert.deepEqual(
    (await options.allTextContents()).map((text) => text.split(" ")[0]),
    ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"],
  );
  await page.getByLabel("Account").selectOption({ label: (await options.first().textContent()) ?? "" });
  await page.getByTestId("header-balance").filter({ hasText: /MAI$/ }).waitFor();
  await close();
});

test("the owner re-prices and cancels a machine's offer; the market follows", async () => {
  const bob = testKey("//Bob");
  const { page, errors, close } = await openPage(browser, { nodeUrl: network.nodeUrl, wallet: [bob] });
  await page.goto(`${network.url}/devices`);
  await page.getByLabel("Account").selectOption(bob.address);
  const card = page.locator(`li[data-machine="${network.machine}"]`);
  await card.getByTestId("offer").filter({ hasText: "1 MAI an hour" }).waitFor();

  await card.getByLabel("Price per hour (MAI)").fill("0");
  await card.getByText("The price must be an amount in MAI above 0").waitFor();
  assert.equal(await card.getByRole("button", { name: "Re-price" }).isDisabled(), true);

  await card.getByLabel("Price per hour (MAI)").fill("2.5");
  await card.getByRole("button", { name: "Re-price" }).click();
  await card.getByRole("status").filter({ hasText: "Offered at 2.5 MAI an hour" }).waitFor({ timeout: 60_000 });
  await card.getByTestId("offer").filter({ hasText: "2.5 MAI an hour" }).waitFor({ timeout: 30_000 });
  await screenshot(page, "share-device");
  await page.goto(`${network.url}/market`);
  await page.locator(`tr[data-machine="${network.machine}"]`).filter({ hasText: "2.5 MAI" }).waitFor();

  await page.goto(`${network.url}/devices`);
  await card.getByRole("button", { name: "Cancel offer" }).click();
  await card.getByRole("status").filter({ hasText: "The offer is cancelled" }).waitFor({ timeout: 60_000 });
  await card.getByTestId("offer").filter({ hasText: "none: not on the market" }).waitFor({ timeout: 30_000 });
  await page.goto(`${network.url}/market`);
  await page.getByText("No machine matches these filters.").waitFor();

  await page.goto(`${network.url}/devices`);
  await card.getByLabel("Price per hour (MAI)").fill("1");
  await card.getByRole("button", { name: "Make offer" }).click();
  await card.getByTestId("offer").filter({ hasText: "1 MAI an hour" }).waitFor({ timeout: 60_000 });
  assert.deepEqual(errors, []);
  await close();
});

test("a buyer places an order from Edit Model and follows it in My Orders and Order Details to its verdict", async () => {
  const charlie = testKey("//Charlie");
  const { page, wallet, errors, close } = await openPage(browser, { nodeUrl: network.nodeUrl, wallet: [charlie] });
  await page.goto(`${network.url}/market`);
  await page.getByLabel("Account").selectOption(charlie.address);
  await page.getByRole("link", { name: `Rent machine ${network.machine.slice(0, 8)}` }).click();
  // iris-softmax, the first example: an hour of the agent's machine at 1 MAI.
  await page.getByTestId("estimate-hours").filter({ hasText: /^1$/ }).waitFor({ timeout: 30_000 });
  await page.getByTestId("estimate-cost").filter({ hasText: /^1 MAI$/ }).waitFor();
  await page.getByRole("button", { name: "Place order" }).click();
  await page.waitForURL(/\/orders\/[0-9a-f-]{36}\?placed_at=\d+$/, { timeout: 90_000 });
  assert.equal(wallet.signed, 1, "one order signed");
  const orderId = /\/orders\/([0-9a-f-]{36})/.exec(page.url())?.[1];

  await page.goto(`${network.url}/orders`);
  const row = page.locator(`tr[data-order="${orderId}"]`);
  await row.waitFor({ timeout: 30_000 });
  assert.match(await row.innerText(), /buyer/);
  await screenshot(page, "my-orders");
  await row.getByRole("link").click();
  await page.waitForURL(new RegExp(`/orders/${orderId}`));
  await page.getByTestId("verdict").filter({ hasText: "pass" }).waitFor({ timeout: 180_000 });
  await page.getByTestId("result").filter({ hasText: /[0-9a-f]{64}/ }).waitFor();
  await page.getByTestId("report").filter({ hasText: /^pass by/ }).waitFor({ timeout: 60_000 });
  const events = await page.getByTestId("history").locator("tbody tr td:nth-child(2)").allTextContents();
  for (const name of ["OrderPlaced", "OrderCompleted", "PotSubmitted", "PotVerified"]) {
    assert.ok(events.includes(name), `${name} in ${events}`);
  }
  await screenshot(page, "order-details");

  await page.getByRole("link", { name: "Console (loss and accuracy)" }).click();
  await page.getByTestId("console-points").filter({ hasText: /· [1-9]\d* points · last: step \d+, loss \d/ }).waitFor({ timeout: 30_000 });
  await page.locator(".chart canvas").waitFor();
  await screenshot(page, "console");
  // Change parameters and order again: Edit Model starts from this order's spec.
  await page.getByRole("link", { name: "Change parameters and place a new order from this spec" }).click();
  await page.waitForURL(new RegExp(`/rent\\?machine=${network.machine}&from=${orderId}`));
  const start = page.getByRole("combobox", { name: /^Spec/ });
  assert.equal(await start.evaluate((select) => select.selectedOptions[0]?.textContent), `Order ${orderId.slice(0, 8)}'s spec`);
  assert.equal(await page.getByLabel("Epochs").inputValue(), "800");
  await page.getByTestId("estimate-hours").filter({ hasText: /^1$/ }).waitFor();
  await page.goBack();

  await page.goBack();
  await page.getByRole("link", { name: "Tasking Log" }).click();
  const lines = page.locator(".log .line");
  await lines.filter({ hasText: /step \d+\/\d+: loss/ }).first().waitFor({ timeout: 30_000 });
  await page.getByLabel("Search").fill("training done");
  await page.waitForURL(/search=training\+done/);
  await lines.first().filter({ hasText: "training done: evaluation accuracy" }).waitFor();
  assert.equal(await lines.count(), 1);
  await page.getByLabel("Search").fill("");
  await page.getByLabel("Level, at least").selectOption("error");
  await page.getByTestId("log-connection").filter({ hasText: /· 0 of [1-9]\d* records/ }).waitFor();
  await page.getByLabel("Level, at least").selectOption("trace");
  await screenshot(page, "tasking-log");
  assert.deepEqual(errors, []);
  await close();
});

test("a buyer renews an order still training from My Orders", async () => {
  // A second machine, shared by //Ferdie with no agent running: its order stays in training.
  const workDir = mkdtempSync(join(tmpdir(), "matrixai-ferdie-"));
  const env = { ...process.env, MATRIXAI_NODE_URL: network.nodeUrl, MATRIXAI_INDEXER_URL: network.url, NO_COLOR: "1" };
  const client = (args) => {
    const run = spawnSync(join(BIN, "matrixai-client"), args, { env, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    return run.stdout;
  };
  const shared = client(["share", "--account-uri", "//Ferdie", "--work-dir", workDir, "--price-per-hour", "2", "--max-duration-hours", "6"]);
  const machine = /machine ([0-9a-f-]{36})/.exec(shared)?.[1];
  assert.ok(machine, shared);
  const placed = client(["order", "place", "--machine", machine, "--hours", "1", "--spec", join(REPO_ROOT, "crates/pot/specs/iris-softmax.json")]);
  const orderId = /order ([0-9a-f-]{36}) placed/.exec(placed)?.[1];
  assert.ok(orderId, placed);

  const charlie = testKey("//Charlie");
  const { page, wallet, errors, close } = await openPage(browser, { nodeUrl: network.nodeUrl, wallet: [charlie] });
  await page.goto(`${network.url}/orders?role=buyer`);
  await page.getByLabel("Account").selectOption(charlie.address);
  const row = page.locator(`tr[data-order="${orderId}"]`);
  await row.waitFor({ timeout: 30_000 });
  await row.getByRole("button", { name: "Renew" }).click();
  const hours = row.getByLabel("Extra hours");
  await hours.fill("6");
  await row.getByText("Add 1 to 5 hours: the order may last at most 6 h and has 1.").waitFor();
  assert.equal(await row.getByRole("button", { name: "Extend" }).isDisabled(), true);
  await hours.fill("2");
  await row.getByText("4 MAI more in escrow").waitFor();
  await row.getByRole("button", { name: "Extend" }).click();
  await row.getByRole("status").filter({ hasText: /^Renewed: 3 h in all/ }).waitFor({ timeout: 60_000 });
  await row.locator("td:nth-child(5)").filter({ hasText: /^3$/ }).waitFor({ timeout: 30_000 });
  assert.equal(wallet.signed, 1);
  await screenshot(page, "renew");
  assert.deepEqual(errors, []);
  await close();
  rmSync(workDir, { recursive: true, force: true });
});
