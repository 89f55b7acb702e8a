import { Suspense, lazy } from "react";
import { useChain } from "./chain/ChainProvider";
import { Loading } from "./components/States";
import { AccountMenu } from "./components/AccountMenu";
import { Faucet } from "./pages/Faucet";
import { Market } from "./pages/Market";
import { MyOrders } from "./pages/MyOrders";
import { OrderDetails } from "./pages/OrderDetails";
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
  return <NotFound />;
}

function ChainBadge() {
  const { status } = useChain();
  if (status.state === "connected") {
    return (
      <span className="chain ok" title={`Connected to ${status.url}`} data-finalized={status.finalized}>
        Block #{status.finalized} finalized
      </span>
    );
  }
  if (status.state === "failed") {
    return (
      <span className="chain failed" role="alert" title={status.url}>
        {status.error}
      </span>
    );
  }
  return <span className="chain">Connecting to {status.url}…</span>;
}
