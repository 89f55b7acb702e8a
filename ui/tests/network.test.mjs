// The UI against the whole marketplace started as the README starts it (scripts/run.sh): the
// chain through polkadot-api, the wallet, the faucet's work and claim, the market from the
// indexer's index of the chain.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { testKey } from "./extension.mjs";
import { launchChromium, marketplace, openPage, screenshot } from "./harness.mjs";

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
  assert.deepEqual(errors, []);
  await close();
});
