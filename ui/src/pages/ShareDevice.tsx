// Share Device: the signed-in account's machines with their hardware, status and offer; make,
// re-price and cancel offers, remove a machine; how to put a new machine on the market.
import { type FormEvent, useEffect, useState } from "react";
import { type MachineView, indexedAfter, myMachines } from "../api/indexer";
import { useQuery } from "../api/useQuery";
import { useAccounts } from "../chain/accounts";
import { useChain } from "../chain/ChainProvider";
import { type Progress, TxFailure, progressText, submit } from "../chain/submit";
import { Empty, Failed, Loading } from "../components/States";
import { TxStatus } from "../components/TxStatus";
import { amountInput, chainId, formatAmount, formatMemory, parseAmount, shortId } from "../format";

export function ShareDevice() {
  const { selected } = useAccounts();
  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">Share Device</h1>
      {selected ? <Machines owner={selected.address} /> : <Empty>Choose an account at the top of the page to see its machines.</Empty>}
      <AgentHowTo />
    </section>
  );
}

function Machines({ owner }: { owner: string }) {
  const { api } = useChain();
  const [version, setVersion] = useState(0);
  const [maxHours, setMaxHours] = useState<number | null>(null);
  useEffect(() => {
    api?.constants.HashrateMarket.MaxDurationHours().then(setMaxHours, () => setMaxHours(null));
  }, [api]);
  const machines = useQuery(`${owner}:${version}`, (signal) => myMachines(owner, signal));
  // A reload after a change keeps the cards (and what they say about the change) on screen.
  if (machines.state === "loading") return <Loading what="your machines" />;
  if (machines.state === "failed") return <Failed error={machines.error} retry={machines.retry} />;
  if (machines.data.items.length === 0) {
    return <Empty>This account has no machine on the chain yet: run the trainer agent on one (below).</Empty>;
  }
  return (
    <ul className="machines">
      {machines.data.items.map((machine) => (
        <MachineCard key={machine.machine_id} machine={machine} maxHours={maxHours} onChanged={() => setVersion((n) => n + 1)} />
      ))}
    </ul>
  );
}

type Action = { state: "idle" } | { state: "busy"; what: string; progress: Progress } | { state: "done"; text: string } | { state: "failed"; text: string };

/** `maxHours`: the chain's `MaxDurationHours`, once read. */
function MachineCard({ machine, maxHours, onChanged }: { machine: MachineView; maxHours: number | null; onChanged: () => void }) {
  const { api } = useChain();
  const { selected } = useAccounts();
  const [action, setAction] = useState<Action>({ state: "idle" });
  const [price, setPrice] = useState(machine.price_per_hour ? amountInput(machine.price_per_hour) : "1");
  const [hours, setHours] = useState(String(machine.max_duration_hours ?? 72));
  const [disk, setDisk] = useState(String(machine.disk_gb ?? 100));
  const busy = action.state === "busy";
  const priceValue = parseAmount(price);
  const hoursValue = /^\d+$/.test(hours) ? Number(hours) : NaN;
  const diskValue = /^\d+$/.test(disk) ? Number(disk) : NaN;
  const offerError =
    priceValue === null || priceValue === 0n
      ? "The price must be an amount in MAI above 0, such as 2.5."
      : !(hoursValue >= 1 && hoursValue <= (maxHours ?? Infinity))
        ? `The longest order must be 1 to ${maxHours ?? "the chain's most"} hours.`
        : !(diskValue >= 1 && diskValue <= 4_294_967_295)
          ? "The disk offered must be a whole number of GB, 1 or more."
          : null;

  const run = async (what: string, tx: Parameters<typeof submit>[0], done: string) => {
    if (!selected) return;
    setAction({ state: "busy", what, progress: "signing" });
    try {
      const finalized = await submit(tx, selected.signer, (progress) => setAction({ state: "busy", what, progress }));
      setAction({ state: "done", text: done });
      // Final on chain: a lagging indexer delays the card, it does not undo the change.
      await indexedAfter(finalized.block).then(onChanged, () =>
        setAction({ state: "done", text: `${done} This page shows it once the indexer catches up.` }),
      );
    } catch (error) {
      setAction({ state: "failed", text: error instanceof TxFailure ? error.message : String(error) });
    }
  };

  const offer = (event: FormEvent) => {
    event.preventDefault();
    if (!api || offerError || priceValue === null) return;
    void run(
      machine.listed ? "Re-pricing" : "Listing",
      api.tx.HashrateMarket.make_offer({ id: chainId(machine.machine_id), price_per_hour: priceValue, max_duration_hours: hoursValue, disk_gb: diskValue }),
      `Offered at ${formatAmount(priceValue)} an hour, up to ${hoursValue} h.`,
    );
  };
  const cancel = () => api && void run("Cancelling the offer", api.tx.HashrateMarket.cancel_offer({ id: chainId(machine.machine_id) }), "The offer is cancelled: the machine is off the market.");
  const remove = () => {
    if (!api || !window.confirm("Remove this machine from the chain? Its deposit is returned; its history stays.")) return;
    void run("Removing the machine", api.tx.HashrateMarket.remove_machine({ id: chainId(machine.machine_id) }), "The machine is removed.");
  };

  const status = machine.rented_by ? "rented" : machine.listed ? "listed" : "unlisted";
  return (
    <li className="machine-card" data-machine={machine.machine_id} aria-labelledby={`machine-${machine.machine_id}`}>
      <h2 id={`machine-${machine.machine_id}`}>
        Machine <code title={machine.machine_id}>{shortId(machine.machine_id)}</code> <span className={`badge ${status}`}>{status}</span>
      </h2>
      <dl className="facts">
        <dt>Hardware</dt>
        <dd>
          {machine.gpu_count > 0 ? `${machine.gpu_count} × ${machine.gpu_model}` : "CPU only"}, {machine.cpu_cores ?? "?"} cores, {formatMemory(machine.ram_mb)} RAM
        </dd>
        <dt>Offer</dt>
        <dd data-testid="offer">
          {machine.listed && machine.price_per_hour
            ? `${formatAmount(machine.price_per_hour)} an hour, up to ${machine.max_duration_hours} h, ${machine.disk_gb} GB of disk`
            : "none: not on the market"}
        </dd>
        <dt>Deposit</dt>
        <dd>{formatAmount(machine.deposit)}</dd>
        <dt>Orders</dt>
        <dd>
          {machine.orders_succeeded} succeeded, {machine.orders_failed} failed
          {machine.rented_by && <> · renting to order <code>{shortId(machine.rented_by)}</code></>}
        </dd>
      </dl>
      <form className="offer" onSubmit={offer} aria-label={`Offer of machine ${shortId(machine.machine_id)}`}>
        <label>
          Price per hour (MAI)
          <input inputMode="decimal" value={price} onChange={(event) => setPrice(event.target.value)} aria-invalid={priceValue === null} />
        </label>
        <label>
          Longest order (hours)
          <input inputMode="numeric" value={hours} onChange={(event) => setHours(event.target.value)} />
        </label>
        <label>
          Disk offered (GB)
          <input inputMode="numeric" value={disk} onChange={(event) => setDisk(event.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={busy || !!offerError}>
          {machine.listed ? "Re-price" : "Make offer"}
        </button>
        {machine.listed && (
          <button type="button" onClick={cancel} disabled={busy || !!machine.rented_by}>
            Cancel offer
          </button>
        )}
        <button type="button" onClick={remove} disabled={busy || !!machine.rented_by}>
          Remove machine
        </button>
      </form>
      {offerError && <p className="field-error">{offerError}</p>}
      <TxStatus tx={action.state === "busy" ? { state: "busy", text: `${action.what}: ${progressText(action.progress)}` } : action} />
    </li>
  );
}

function AgentHowTo() {
  return (
    <details className="howto">
      <summary>Put a new machine on the market</summary>
      <p>
        Run the trainer agent on the machine: it measures the hardware, registers the machine with your account, lists it at
        your price and trains the orders placed on it (docs/trainer-guide.md).
      </p>
      <pre>
        <code>{`matrixai-client device                      # what it detects and measures
matrixai-client run --account-uri "SECRET" --price-per-hour 1 --node ws://NODE:9944 --indexer http://INDEXER:8080`}</code>
      </pre>
    </details>
  );
}
