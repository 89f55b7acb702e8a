// Who the UI signs as: accounts of an injected browser extension (polkadot-js compatible:
// polkadot-js, Talisman, SubWallet) and, on a development chain, its well-known dev accounts.
import { sr25519CreateDerive } from "@polkadot-labs/hdkd";
import { DEV_MINI_SECRET, ss58Address } from "@polkadot-labs/hdkd-helpers";
import { type ReactNode, createContext, useContext, useEffect, useMemo, useState } from "react";
import type { PolkadotSigner } from "polkadot-api";
import { connectInjectedExtension, getInjectedExtensions } from "polkadot-api/pjs-signer";
import { getPolkadotSigner } from "polkadot-api/signer";
import { SS58_PREFIX, sameAccount } from "../format";
import { useChain } from "./ChainProvider";

export type Account = {
  address: string;
  name: string;
  /** The extension's name, or "dev" for a development chain's accounts. */
  source: string;
  signer: PolkadotSigner;
};

type Accounts = {
  accounts: Account[];
  selected: Account | null;
  select: (address: string | null) => void;
  /** Extensions found in this browser, and why one could not be read. */
  extensions: string[];
  problems: string[];
  /** Free balance of the selected account, live from the best block; null while unknown. */
  balance: bigint | null;
};

const SELECTED = "matrixai.account";
const DEV_NAMES = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];
/** Chains whose genesis endows the dev accounts (chain/node/src/chain_spec.rs). */
const DEV_CHAINS = ["MatrixAI Development", "MatrixAI Local Testnet"];

function devAccounts(): Account[] {
  const derive = sr25519CreateDerive(DEV_MINI_SECRET);
  return DEV_NAMES.map((name) => {
    const key = derive(`//${name}`);
    return {
      address: ss58Address(key.publicKey, SS58_PREFIX),
      name,
      source: "dev",
      signer: getPolkadotSigner(key.publicKey, "Sr25519", key.sign),
    };
  });
}

const AccountsContext = createContext<Accounts | null>(null);

export function AccountsProvider({ children }: { children: ReactNode }) {
  const { client, api } = useChain();
  const [dev, setDev] = useState<Account[]>([]);
  const [injected, setInjected] = useState<Account[]>([]);
  const [extensions, setExtensions] = useState<string[]>([]);
  const [problems, setProblems] = useState<string[]>([]);
  const [chosen, setChosen] = useState<string | null>(() => window.localStorage.getItem(SELECTED));
  const [balance, setBalance] = useState<bigint | null>(null);

  useEffect(() => {
    if (!client) return;
    let live = true;
    client.getChainSpecData().then(
      (spec) => live && setDev(DEV_CHAINS.includes(spec.name) ? devAccounts() : []),
      () => live && setDev([]),
    );
    return () => {
      live = false;
    };
  }, [client]);

  useEffect(() => {
    // Extensions inject themselves while the page loads; look once it has.
    const names = getInjectedExtensions();
    setExtensions(names);
    const stops: (() => void)[] = [];
    const byExtension = new Map<string, Account[]>();
    const publish = () => setInjected([...byExtension.values()].flat());
    for (const name of names) {
      connectInjectedExtension(name, "MatrixAI").then(
        (extension) => {
          const read = () =>
            extension.getAccounts().map((account) => ({
              address: account.address,
              name: account.name ?? account.address.slice(0, 8),
              source: name,
              signer: account.polkadotSigner,
            }));
          byExtension.set(name, read());
          publish();
          stops.push(extension.subscribe(() => (byExtension.set(name, read()), publish())));
          stops.push(() => extension.disconnect());
        },
        (error: Error) => setProblems((all) => [...all, `${name}: ${error.message}`]),
      );
    }
    return () => stops.forEach((stop) => stop());
  }, []);

  // A dev key the wallet also holds is listed once, as the wallet's.
  const accounts = useMemo(
    () => [...injected, ...dev.filter((key) => !injected.some((account) => sameAccount(account.address, key.address)))],
    [injected, dev],
  );
  const selected = accounts.find((account) => account.address === chosen) ?? null;

  useEffect(() => {
    setBalance(null);
    if (!api || !selected) return;
    const subscription = api.query.System.Account.watchValue(selected.address, { at: "best" }).subscribe({
      next: ({ value }) => setBalance(value.data.free),
      error: () => setBalance(null),
    });
    return () => subscription.unsubscribe();
  }, [api, selected]);

  const value = useMemo<Accounts>(
    () => ({
      accounts,
      selected,
      extensions,
      problems,
      balance,
      select: (address) => {
        if (address) window.localStorage.setItem(SELECTED, address);
        else window.localStorage.removeItem(SELECTED);
        setChosen(address);
      },
    }),
    [accounts, selected, extensions, problems, balance],
  );
  return <AccountsContext.Provider value={value}>{children}</AccountsContext.Provider>;
}

export function useAccounts(): Accounts {
  const accounts = useContext(AccountsContext);
  if (!accounts) throw new Error("useAccounts outside <AccountsProvider>");
  return accounts;
}
