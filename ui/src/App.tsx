import { useChain } from "./chain/ChainProvider";
import { AccountMenu } from "./components/AccountMenu";
import { Faucet } from "./pages/Faucet";
import { Market } from "./pages/Market";
import { ShareDevice } from "./pages/ShareDevice";
import { NotFound } from "./pages/NotFound";
import { Link, useLocation } from "./router";

const PAGES = [
  { path: "/market", label: "Marketplace" },
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
