// Bundles src/taskpane.js with the pinned npm packages (package-lock.json) into the file crmcal
// serves. The first line of the output names the SHA-256 of its inputs, so a test can tell the
// committed bundle from a stale one (tests/web/test_addin_bundle.py); `node build.mjs --out X`
// writes elsewhere (the test rebuilds and compares bytes).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { build } from "esbuild";

const inputs = ["package-lock.json", "build.mjs", "src/taskpane.js"];
const h = createHash("sha256");
for (const f of inputs) h.update(f + "\0" + readFileSync(new URL(f, import.meta.url)) + "\0");
const i = process.argv.indexOf("--out");
const outfile = i > 0 ? process.argv[i + 1] : "../src/crmcal/web/addin_static/taskpane.js";

await build({
  entryPoints: ["src/taskpane.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "eof",
  banner: { js: `/* crmcal add-in bundle; inputs sha256 ${h.digest("hex")} */` },
  outfile,
  absWorkingDir: new URL(".", import.meta.url).pathname,
  logLevel: "warning",
});
