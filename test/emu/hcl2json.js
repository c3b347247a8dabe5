// Print the JSON form of an HCL file, using HashiCorp's HCL parser as
// published on npm (@cdktf/hcl2json, a WebAssembly build of the Go hcl
// library).  Usage: node test/emu/hcl2json.js FILE.hcl
// Module search: $HCL2JSON_NODE_PATH, then test/node/node_modules.
"use strict";
const fs = require("fs");
const path = require("path");

function load() {
  const tries = [];
  if (process.env.HCL2JSON_NODE_PATH) tries.push(process.env.HCL2JSON_NODE_PATH);
  tries.push(path.join(__dirname, "..", "node", "node_modules"));
  for (const dir of tries) {
    try {
      return require(path.join(dir, "@cdktf", "hcl2json"));
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return require("@cdktf/hcl2json");
}

async function main() {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: hcl2json.js FILE.hcl\n");
    process.exit(2);
  }
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    process.stderr.write(`${file}: ${e.message}\n`);
    process.exit(2);
  }
  let hcl;
  try {
    hcl = load();
  } catch (e) {
    process.stderr.write("@cdktf/hcl2json not installed: npm install --prefix test/node @cdktf/hcl2json\n");
    process.exit(3);
  }
  try {
    const out = await hcl.parse(path.basename(file), text);
    process.stdout.write(JSON.stringify(out) + "\n");
  } catch (e) {
    process.stderr.write(String(e && e.message ? e.message : e).trim() + "\n");
    process.exit(1);
  }
}
main();
