import { type Account, useAccounts } from "../chain/accounts";
import { formatAmount } from "../format";

/** The signed-in account, chosen among the wallet's and (on a dev chain) the dev accounts. */
export function AccountMenu() {
  const { accounts, selected, select, balance, extensions, problems } = useAccounts();
  const sources = [...new Set(accounts.map((account) => account.source))];
  const label = (account: Account) => `${account.name} (${account.address.slice(0, 6)}…${account.address.slice(-4)})`;
  return (
    <div className="account">
      <label htmlFor="account-select">Account</label>
      <select id="account-select" value={selected?.address ?? ""} onChange={(event) => select(event.target.value || null)}>
        <option value="">{accounts.length ? "Not signed in" : extensions.length ? "No account in the wallet" : "No wallet found"}</option>
        {sources.map((source) => (
          <optgroup key={source} label={source === "dev" ? "Dev accounts (development chain)" : source}>
            {accounts
              .filter((account) => account.source === source)
              .map((account) => (
                <option key={`${source}:${account.address}`} value={account.address}>
                  {label(account)}
                </option>
              ))}
          </optgroup>
        ))}
      </select>
      {selected && (
        <span className="balance" data-testid="header-balance" title="Free balance, live from the best block">
          {balance === null ? "…" : formatAmount(balance, 2)}
        </span>
      )}
      {problems.length > 0 && (
        <span className="field-error" role="alert">
          {problems.join("; ")}
        </span>
      )}
    </div>
  );
}
