// What the browser tests start: the indexer's API over a synthetic market serving the UI's
// production build, and Debian's Chromium through playwright-core.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { injectWallet } from "./extension.mjs";

export const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = join(UI_DIR, "..");
export const DIST = join(UI_DIR, "dist");
export const SCREENSHOTS = join(UI_DIR, "test-results", "screenshots");
// scripts/env.sh exports where the root workspace builds.
const TARGET = process.env.ROOT_TARGET_DIR ?? join(homedir(), ".cache", "matrixai", "target");
/** The workspace's release binaries (`matrixai-client` for the buyer's CLI). */
export const BIN = join(TARGET, "release");

/**
 * The API over `machines` synthetic machines with the UI (crates/indexer/examples). It stops
 * when `stop()` closes its standard input, or when this process dies.
 */
export async function syntheticMarket(machines) {
  const binary = join(TARGET, "release", "examples", "synthetic_market");
  const child = spawn(binary, ["--machines", String(machines), "--ui-dir", DIST], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const url = await new Promise((resolve, reject) => {
    let output = "";
    child.on("error", (error) => reject(new Error(`${binary}: ${error.message} (built by scripts/test.sh's cargo test)`)));
    child.on("exit", (code) => reject(new Error(`synthetic_market exited with ${code} before listening`)));
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const found = /listening on (http:\/\/\S+)/.exec(output);
      if (found) resolve(found[1]);
    });
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  return {
    url,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
    /** Gone at once, open connections and all: the indexer crashing. */
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Headless Chromium: Debian's, or the one CHROMIUM names. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
}

/**
 * A fresh browser context whose UI talks to `nodeUrl` (or to a closed port: the market does not
 * need the chain), with the test wallet holding `wallet` keys when given. Uncaught page errors
 * collect in `errors`.
 */
export async function openPage(browser, { nodeUrl = "ws://127.0.0.1:9", viewport, wallet } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1280, height: 800 } });
  await context.addInitScript((url) => window.localStorage.setItem("matrixai.nodeUrl", url), nodeUrl);
  const walletState = wallet ? await injectWallet(context, wallet) : null;
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return { page, errors, wallet: walletState, close: () => context.close() };
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** A free TCP port on loopback (the kernel's choice, released for the caller to bind). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * The whole marketplace as the README starts it (`scripts/run.sh`: dev chain, indexer serving
 * the UI, validator, trainer agent), on free ports under a temporary run directory; resolves
 * once the script says everything is ready, with the agent's machine. `stop()` is its Ctrl-C.
 */
export async function marketplace() {
  const [rpc, p2p, p2pWs, api, agent] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const runDir = mkdtempSync(join(tmpdir(), "matrixai-ui-"));
  const child = spawn(join(REPO_ROOT, "scripts", "run.sh"), [], {
    env: {
      ...process.env,
      MATRIXAI_RUN_DIR: runDir,
      MATRIXAI_RPC_PORT: String(rpc),
      MATRIXAI_P2P_PORT: String(p2p),
      MATRIXAI_P2P_WS_PORT: String(p2pWs),
      MATRIXAI_API: `127.0.0.1:${api}`,
      MATRIXAI_AGENT_STATUS: `127.0.0.1:${agent}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stopOnExit = () => child.kill("SIGINT");
  process.on("exit", stopOnExit);
  const exited = new Promise((resolve) => child.on("exit", resolve));
  let output = "";
  await new Promise((resolve, reject) => {
    const read = (chunk) => {
      output += chunk;
      // The summary's last lines name the agent's machine.
      if (output.includes("Place an order from a second terminal")) resolve();
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => reject(new Error(`scripts/run.sh exited with ${code}:\n${output.slice(-4000)}`)));
  });
  const machine = /machine ([0-9a-f-]{36})/.exec(output)?.[1];
  return {
    url: `http://127.0.0.1:${api}`,
    nodeUrl: `ws://127.0.0.1:${rpc}`,
    machine,
    runDir,
    stop: async () => {
      process.off("exit", stopOnExit);
      child.kill("SIGINT");
      await exited;
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
