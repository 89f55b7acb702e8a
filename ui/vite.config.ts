import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The production build is served by the indexer (`--ui-dir ui/dist`) on the API's origin; the
// dev server forwards the API to a local indexer instead.
const indexer = process.env.MATRIXAI_INDEXER_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: [
      // polkadot-api's smoldot provider imports smoldot's entry only for its error classes; that
      // entry embeds smoldot's WebAssembly (2.3 MB gzipped), which the light client's Web
      // Worker loads already. The entry without it exports the same classes.
      { find: /^@polkadot-api\/smoldot$/, replacement: "smoldot/no-auto-bytecode" },
    ],
  },
  build: { target: "es2022", sourcemap: false, chunkSizeWarningLimit: 600 },
  server: { proxy: { "/api": indexer } },
});
