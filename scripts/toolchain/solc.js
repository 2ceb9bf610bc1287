// The part of native solc's command line that forge uses, over npm's solc (soljson):
//   solc --version
//   solc [--base-path R] [--include-path P]... [--allow-paths A,B] --standard-json  (input on stdin)
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

function fail(message) {
  process.stderr.write(`solc: ${message}\n`);
  process.exit(1);
}

const args = process.argv.slice(2);

if (args.includes("--version") || args.includes("-v")) {
  // forge parses native solc's form: "Version: 0.8.37+commit.<hash>.<platform>".
  const full = solc.version().replace(/\.Emscripten\.clang$/, ".Linux.g++");
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${full}\n`);
  process.exit(0);
}

if (!args.includes("--standard-json")) {
  fail("only --version and --standard-json are supported by this wrapper");
}

function optionValues(name) {
  const values = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && i + 1 < args.length) values.push(args[++i]);
    else if (args[i].startsWith(`${name}=`)) values.push(args[i].slice(name.length + 1));
  }
  return values;
}

const basePath = optionValues("--base-path")[0] || process.cwd();
const searchRoots = [basePath, ...optionValues("--include-path")];
const allowed = [basePath, ...optionValues("--include-path")]
  .concat(...optionValues("--allow-paths").map((v) => v.split(",")))
  .filter(Boolean)
  .map((p) => path.resolve(basePath, p));

function isAllowed(file) {
  return allowed.some((root) => file === root || file.startsWith(root + path.sep));
}

// Imports forge did not already put into the input are read from disk, within the allowed roots.
function findImport(importPath) {
  const candidates = path.isAbsolute(importPath)
    ? [importPath]
    : searchRoots.map((root) => path.resolve(root, importPath));
  for (const file of candidates) {
    if (isAllowed(file) && fs.existsSync(file)) {
      return { contents: fs.readFileSync(file, "utf8") };
    }
  }
  return { error: `File not found inside the allowed paths: ${importPath}` };
}

let input;
try {
  input = fs.readFileSync(0, "utf8");
} catch (e) {
  fail(`cannot read the standard-json input from stdin: ${e.message}`);
}
process.stdout.write(solc.compile(input, { import: findImport }));
