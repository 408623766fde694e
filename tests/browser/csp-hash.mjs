// Keeps the Content-Security-Policy of src/http/ui.html in step with its inline script.
// The page allows exactly one script: its own, by SHA-256. After editing the script run
//   node tests/browser/csp-hash.mjs --write
// Without --write it only checks, and exits 1 when the hash is stale.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const page = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'http', 'ui.html');
const html = readFileSync(page, 'utf8');
const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)];
if (scripts.length !== 1) {
  console.error(`ui.html must have exactly one inline <script>, found ${scripts.length}`);
  process.exit(1);
}
const want = `'sha256-${createHash('sha256').update(scripts[0][1], 'utf8').digest('base64')}'`;
const current = /script-src ('sha256-[^']*')/.exec(html);
if (!current) {
  console.error('ui.html: no `script-src \'sha256-…\'` in its Content-Security-Policy');
  process.exit(1);
}
if (current[1] === want) {
  console.log(`ui.html CSP script hash is current: ${want}`);
} else if (process.argv.includes('--write')) {
  writeFileSync(page, html.replace(current[0], `script-src ${want}`));
  console.log(`ui.html CSP script hash updated to ${want}`);
} else {
  console.error(`ui.html CSP script hash is stale (${current[1]}, the script hashes to ${want}).`);
  console.error('Run: node tests/browser/csp-hash.mjs --write');
  process.exit(1);
}
