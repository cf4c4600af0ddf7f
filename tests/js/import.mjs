// Reference CIDs from the JS UnixFS importer (ipfs-unixfs-importer), for cross-checking ours.
// usage: node import.mjs --profile unixfs-v0-2015|unixfs-v1-2025 [--trickle] [--chunk N]
//                        [--width N] [--cid-version N] [--raw-leaves true|false]
//                        [--preserve-mode] [--preserve-mtime] PATH
// Prints the root CID. A directory is imported recursively (no hidden-file filtering).
// --preserve-mode/--preserve-mtime give every file and directory entry its lstat mode
// (permission bits) and mtime (seconds and nanoseconds) as UnixFS 1.5 metadata.
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced, trickle } from 'ipfs-unixfs-importer/layout'
import { MemoryBlockstore } from 'blockstore-core/memory'
import fs from 'node:fs'
import path from 'node:path'

const args = process.argv.slice(2)
const opt = {}
let target
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  if (a.startsWith('--')) {
    if (a === '--trickle') opt.trickle = true
    else if (a === '--preserve-mode' || a === '--preserve-mtime') opt[a.slice(2)] = true
    else opt[a.slice(2)] = args[++i]
  } else target = a
}

const profile = opt.profile ?? 'unixfs-v0-2015'
const v1 = profile === 'unixfs-v1-2025'
const options = { profile }
const chunk = opt.chunk ? Number(opt.chunk) : (v1 ? 1048576 : 262144)
const width = opt.width ? Number(opt.width) : (v1 ? 1024 : 174)
options.chunker = fixedSize({ chunkSize: chunk })
if (opt['cid-version'] !== undefined) options.cidVersion = Number(opt['cid-version'])
if (opt['raw-leaves'] !== undefined) options.rawLeaves = opt['raw-leaves'] === 'true'
if (opt.trickle) {
  options.layout = trickle({ maxChildrenPerNode: width, layerRepeat: 4 })
  options.leafType = 'raw'
  options.reduceSingleLeafToSelf = false
} else {
  options.layout = balanced({ maxChildrenPerNode: width })
}

function meta (abs) {
  const m = {}
  const st = fs.lstatSync(abs, { bigint: true })
  if (opt['preserve-mode']) m.mode = Number(st.mode & 0o7777n)
  if (opt['preserve-mtime']) {
    // Floor division, as POSIX timespec and Go's time.Unix: nsecs in [0, 1e9) before 1970 too.
    let secs = st.mtimeNs / 1000000000n
    let nsecs = st.mtimeNs % 1000000000n
    if (nsecs < 0n) { secs -= 1n; nsecs += 1000000000n }
    // Kubo leaves nsecs out when it is 0 (boxo SetModTime), so must the reference.
    m.mtime = nsecs === 0n ? { secs } : { secs, nsecs: Number(nsecs) }
  }
  return m
}

function * walk (abs, rel) {
  const st = fs.lstatSync(abs)
  if (st.isDirectory()) {
    const names = fs.readdirSync(abs).sort()
    yield { path: rel, ...meta(abs) }
    for (const n of names) yield * walk(path.join(abs, n), rel + '/' + n)
  } else if (st.isFile()) {
    yield { path: rel, content: fs.createReadStream(abs, { highWaterMark: 1 << 20 }), ...meta(abs) }
  }
}

const blockstore = new MemoryBlockstore()
const st = fs.statSync(target)
// With metadata, the JS importer turns a one-chunk file whose leaf is dag-pb into a node whose
// Data is that leaf's whole encoded block (its content then reads back wrong); from a raw leaf
// it builds the right node, the same bytes a dag-pb one-chunk import must give (the file's only
// node is its root). So a one-chunk file with metadata is imported from a raw leaf here.
if (!st.isDirectory() && (opt['preserve-mode'] || opt['preserve-mtime']) && st.size <= chunk) options.rawLeaves = true
const source = st.isDirectory() ? walk(target, path.basename(target)) : [{ content: fs.createReadStream(target, { highWaterMark: 1 << 20 }), ...meta(target) }]
let last
for await (const entry of importer(source, blockstore, options)) last = entry
console.log(last.cid.toString())
