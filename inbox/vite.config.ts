/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// A single-page app: dist/index.html plus hashed assets. The edge mounts dist/ at /inbox/ and
// serves the API the app calls at /inbox/api/ (same origin: no CORS, the key never leaves it).
export default defineConfig({
  base: "/inbox/",
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2020",
    sourcemap: true,
  },
  test: {
    environment: "jsdom",
    globals: true,
    include: ["tests/unit/**/*.test.{ts,tsx}"],
    setupFiles: ["tests/unit/setup.ts"],
    restoreMocks: true,
  },
});
