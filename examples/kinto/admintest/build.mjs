// Builds the Kinto web admin into dist/ from its npm package. kinto-admin on npm ships its
// compiled modules (lib/, with CSS and image imports), not a built site, so this bundles them
// with esbuild behind a small entry (src/index.jsx) that reads the server URL and the page size
// from the page's query string. Two packaging gaps of the published package are bridged here:
// its CSS refers to other packages webpack-style ("~bootstrap-icons/..."), and one module
// imports a stylesheet that the package does not ship (lib/components/Breadcrumbs/style.css),
// which is bundled as an empty one.
// Usage: node build.mjs   (after npm ci)
import * as esbuild from "esbuild";
import { createRequire } from "node:module";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const adminVersion = JSON.parse(readFileSync(path.join(here, "node_modules/kinto-admin/package.json"), "utf8")).version;

const packagingGaps = {
  name: "kinto-admin-packaging-gaps",
  setup(build) {
    build.onResolve({ filter: /^~/ }, args => ({ path: require.resolve(args.path.slice(1), { paths: [args.resolveDir] }) }));
    build.onResolve({ filter: /\.css$/ }, args => {
      const file = path.resolve(args.resolveDir, args.path);
      if (args.path.startsWith(".") && !existsSync(file)) {
        return { path: file, namespace: "missing-css" };
      }
      return undefined;
    });
    build.onLoad({ filter: /.*/, namespace: "missing-css" }, () => ({ contents: "", loader: "css" }));
  },
};

await esbuild.build({
  absWorkingDir: here,
  entryPoints: ["src/index.jsx"],
  bundle: true,
  outdir: "dist",
  minify: true,
  sourcemap: false,
  loader: { ".js": "jsx", ".png": "file", ".svg": "file", ".woff": "file", ".woff2": "file" },
  define: {
    "process.env.NODE_ENV": '"production"',
    "process.env.REACT_APP_VERSION": JSON.stringify(adminVersion),
    "process.env.KINTO_ADMIN_VERSION": JSON.stringify(adminVersion),
  },
  plugins: [packagingGaps],
  logLevel: "warning",
});
// The favicon is inline: a browser's own request for /favicon.ico would be a 404 in the
// journeys' list of failed requests.
writeFileSync(path.join(here, "dist/index.html"), `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Kinto Administration</title>
<link rel="stylesheet" href="index.css"></head>
<body><div id="root"></div><script src="index.js"></script></body>
</html>
`);
