// Reference CIDs from the JS UnixFS importer (ipfs-unixfs-importer), for cross-checking ours.
// usage: node import.mjs --profile unixfs-v0-2015|unixfs-v1-2025 [--trickle] [--chunk N]
//                        [--width N] [--cid-version N] [--raw-leaves true|false] PATH
// Prints the root CID. A directory is imported recursively (no hidden-file filtering).
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

function * walk (abs, rel) {
  const st = fs.lstatSync(abs)
  if (st.isDirectory()) {
    const names = fs.readdirSync(abs).sort()
    yield { path: rel }
    for (const n of names) yield * walk(path.join(abs, n), rel + '/' + n)
  } else if (st.isFile()) {
    yield { path: rel, content: fs.createReadStream(abs, { highWaterMark: 1 << 20 }) }
  }
}

const blockstore = new MemoryBlockstore()
const st = fs.statSync(target)
const source = st.isDirectory() ? walk(target, path.basename(target)) : [{ content: fs.createReadStream(target, { highWaterMark: 1 << 20 }) }]
let last
for await (const entry of importer(source, blockstore, options)) last = entry
console.log(last.cid.toString())
