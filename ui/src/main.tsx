import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { ChainProvider } from "./chain/ChainProvider";
import { AccountsProvider } from "./chain/accounts";
import "./styles.css";

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <ChainProvider>
      <AccountsProvider>
        <App />
      </AccountsProvider>
    </ChainProvider>
  </StrictMode>,
);
