/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// One self-contained classic script, dist/embed.js (React, the app and its CSS inlined), plus
// the static pages from public/ (index.html: standalone form + ticket view; demo.html: a host
// page). The edge mounts dist/ at /webform/; pages reference embed.js relatively.
export default defineConfig(({ command }) => ({
  base: "/webform/",
  publicDir: "public",
  esbuild: { jsx: "automatic" },
  // Library builds keep process.env.NODE_ENV by default; the embed must ship React's production build.
  define: command === "build" ? { "process.env.NODE_ENV": JSON.stringify("production") } : {},
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2020",
    sourcemap: true,
    lib: {
      entry: "src/embed.tsx",
      name: "FlowboardSupportEmbed",
      formats: ["iife"],
      fileName: () => "embed.js",
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    include: ["tests/unit/**/*.test.{ts,tsx}"],
    setupFiles: ["tests/unit/setup.ts"],
    restoreMocks: true,
  },
}));
