// ONNX Runtime's CPU execution provider on the same sentences as ipfskit, for bench-infer.sh:
// sorted by length, padded batches, graph optimisation on, THREADS intra-op threads. One JSON line.
//   node scripts/bench/ort_bench.mjs MODEL.onnx IDS.json THREADS BATCH
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const [model, idsPath, threads = '2', batch = '64'] = process.argv.slice(2);
const B = Number(batch);
const seqs = JSON.parse(readFileSync(idsPath, 'utf8'));
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});

function feeds(group) {
  const L = Math.max(...group.map((s) => s.length));
  const ids = new BigInt64Array(group.length * L), mask = new BigInt64Array(group.length * L);
  group.forEach((s, j) => s.forEach((t, i) => { ids[j * L + i] = BigInt(t); mask[j * L + i] = 1n; }));
  return {
    input_ids: new ort.Tensor('int64', ids, [group.length, L]),
    attention_mask: new ort.Tensor('int64', mask, [group.length, L]),
  };
}

// As sentence-transformers encode(): longest first, batches of B. Inputs are built before the
// clock starts, so the time is ONNX Runtime's alone.
const order = seqs.map((s, i) => i).sort((a, b) => seqs[b].length - seqs[a].length);
const batches = [];
for (let k = 0; k < order.length; k += B) batches.push(feeds(order.slice(k, k + B).map((i) => seqs[i])));
await session.run(batches[Math.floor(batches.length / 2)]);  // warm-up
// The export must compute what torch computes: OUT/check.f32 holds torch's embeddings of the
// first 16 inputs as one padded batch.
const check = new Float32Array(readFileSync(idsPath.replace(/ids\.json$/, 'check.f32')).buffer.slice(0));
const got = (await session.run(feeds(seqs.slice(0, 16)))).sentence_embedding.data;
let maxErr = 0;
for (let i = 0; i < check.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - check[i]));
if (!(maxErr < 1e-3)) throw new Error(`ONNX Runtime disagrees with torch: max abs error ${maxErr}`);
const t0 = process.hrtime.bigint();
let dim = 0;
for (const f of batches) dim = (await session.run(f)).sentence_embedding.dims[1];
const dt = Number(process.hrtime.bigint() - t0) / 1e9;
const tokens = seqs.reduce((n, s) => n + s.length, 0);
const pkg = require('onnxruntime-node/package.json');
console.log(JSON.stringify({
  engine: 'onnxruntime', version: pkg.version, threads: Number(threads), batch: B, dim,
  max_abs_err_vs_torch: maxErr,
  sentences: seqs.length, tokens, seconds: dt, sentences_per_s: seqs.length / dt,
  tokens_per_s: tokens / dt,
}));
