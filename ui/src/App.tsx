import { Suspense, lazy } from "react";
import { useChain } from "./chain/ChainProvider";
import { Loading } from "./components/States";
import { AccountMenu } from "./components/AccountMenu";
import { EditModel } from "./pages/EditModel";
import { Faucet } from "./pages/Faucet";
import { Market } from "./pages/Market";
import { MyOrders } from "./pages/MyOrders";
import { OrderDetails } from "./pages/OrderDetails";
import { Settings } from "./pages/Settings";
import { ShareDevice } from "./pages/ShareDevice";
import { TaskingLog } from "./pages/TaskingLog";

// The chart library loads with the page that draws charts only.
const Console = lazy(() => import("./pages/Console"));
import { NotFound } from "./pages/NotFound";
import { Link, useLocation } from "./router";

const PAGES = [
  { path: "/market", label: "Marketplace" },
  { path: "/orders", label: "My Orders" },
  { path: "/devices", label: "Share Device" },
  { path: "/faucet", label: "Faucet" },
];

export function App() {
  const { path } = useLocation();
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/market" className="brand">
          MatrixAI
        </Link>
        <nav aria-label="Pages">
          {PAGES.map((page) => (
            <Link key={page.path} href={page.path} aria-current={path.startsWith(page.path) ? "page" : undefined}>
              {page.label}
            </Link>
          ))}
        </nav>
        <ChainBadge />
        <AccountMenu />
      </header>
      <main id="main">{route(path)}</main>
    </>
  );
}

function route(path: string) {
  if (path === "/" || path === "/market") return <Market />;
  if (path === "/orders") return <MyOrders />;
  if (path === "/rent") return <EditModel />;
  const order = /^\/orders\/([0-9a-f-]{36})(\/log|\/console)?$/.exec(path);
  if (order?.[1] && order[2] === "/log") return <TaskingLog id={order[1]} />;
  if (order?.[1] && order[2] === "/console") {
    return (
      <Suspense fallback={<Loading what="the console" />}>
        <Console id={order[1]} />
      </Suspense>
    );
  }
  if (order?.[1]) return <OrderDetails id={order[1]} />;
  if (path === "/devices") return <ShareDevice />;
  if (path === "/faucet") return <Faucet />;
  if (path === "/settings") return <Settings />;
  return <NotFound />;
}

function ChainBadge() {
  const { status } = useChain();
  const light = status.via.kind === "light";
  if (status.state === "connected") {
    const syncing = light && (status.health === null || status.health.isSyncing);
    return (
      <Link href="/settings" className="chain ok" title={`Connected to ${status.url}`} data-finalized={status.finalized} data-connection={status.via.kind}>
        {light && (
          <>
            Light client · {syncing ? "syncing" : "synced"}
            {status.health && `, ${status.health.peers} peer${status.health.peers === 1 ? "" : "s"}`} ·{" "}
          </>
        )}
        Block #{status.finalized} finalized
      </Link>
    );
  }
  if (status.state === "failed") {
    return (
      <Link href="/settings" className="chain failed" role="alert" title={status.url}>
        {status.error}
      </Link>
    );
  }
  return (
    <Link href="/settings" className="chain">
      {light ? "Light client: starting and syncing…" : `Connecting to ${status.url}…`}
    </Link>
  );
}
