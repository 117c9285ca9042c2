#!/usr/bin/env node
// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): the functions and the files with the most
// self time, as shares of all samples, so a hot spot can be quoted with numbers.
// Usage: node bench/profile-summary.mjs <file.cpuprofile> [rows]
import { readFileSync } from 'node:fs';

const [path, rowsText] = process.argv.slice(2);
if (!path) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [rows]');
  process.exit(2);
}
const rows = Number(rowsText ?? 25);
const profile = JSON.parse(readFileSync(path, 'utf8'));
const nodesById = new Map(profile.nodes.map((node) => [node.id, node]));
const sampleCounts = new Map();
for (const id of profile.samples) sampleCounts.set(id, (sampleCounts.get(id) ?? 0) + 1);
const totalSamples = profile.samples.length;
const idleNames = new Set(['(idle)', '(program)', '(garbage collector)']);

const byFunction = new Map();
const byFile = new Map();
for (const [id, count] of sampleCounts) {
  const { functionName, url, lineNumber } = nodesById.get(id).callFrame;
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(/^.*\/(dist|src)\//, '$1/') || '(native)';
  const name = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + count);
  const fileKey = idleNames.has(functionName) ? functionName : file.startsWith('node_modules/') ? file.split('/').slice(0, file.startsWith('node_modules/@') ? 3 : 2).join('/') : file;
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + count);
}
const durationMs = (profile.endTime - profile.startTime) / 1000;
const share = (count) => `${((100 * count) / totalSamples).toFixed(1).padStart(5)}%`;
console.log(`${totalSamples} samples over ${(durationMs / 1000).toFixed(1)} s`);
console.log('\nself time by function:');
for (const [name, count] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${share(count)}  ${name}`);
console.log('\nself time by file or package:');
for (const [name, count] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${share(count)}  ${name}`);
