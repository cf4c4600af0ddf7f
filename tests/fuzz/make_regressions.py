#!/usr/bin/env python3
"""Writes corpus/<target>/regression-* : one input per fixed finding of issue 10 (parts 3 and 5),
so every fuzz run replays them first."""
import hashlib, json, os, struct

from make_seeds import put_uvarint

HERE = os.path.dirname(os.path.abspath(__file__))


def field(num, wire, payload):
    key = put_uvarint(num << 3 | wire)
    if wire == 0:
        return key + put_uvarint(payload)
    return key + put_uvarint(len(payload)) + payload


def unixfs(type_, filesize=None, blocksizes=(), fanout=None, hash_type=None, data=None):
    out = field(1, 0, type_)
    if data is not None: out += field(2, 2, data)
    if filesize is not None: out += field(3, 0, filesize)
    for b in blocksizes: out += field(4, 0, b)
    if hash_type is not None: out += field(5, 0, hash_type)
    if fanout is not None: out += field(6, 0, fanout)
    return out


def pbnode(links, data):
    out = b""
    for cid, name, tsize in links:
        out += field(2, 2, field(1, 2, cid) + field(2, 2, name.encode()) + field(3, 0, tsize))
    return out + field(1, 2, data)


def cid(codec, block):
    return b"\x01" + put_uvarint(codec) + b"\x12\x20" + hashlib.sha256(block).digest()


def section(c, block):
    return put_uvarint(len(c) + len(block)) + c + block


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "regression-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


huge_map = bytes([0xBA, 0xFF, 0xFF, 0xFF, 0xFF, 0x00])
huge_array = bytes([0x9B, 0, 0, 0, 0x10, 0, 0, 0, 0, 0x01])
car = put_uvarint(len(huge_map)) + huge_map
write("car_reader_fuzz", "huge-header-map", car)
write("car_stream_fuzz", "huge-header-map", b"\x05" + car)
write("dagcbor_fuzz", "huge-map", huge_map)
write("dagcbor_fuzz", "huge-array", huge_array)
write("dagcbor_fuzz", "deep-nesting", b"\x81" * 5000 + b"\x01")

sep = "\n--\n"
deep = "[" * 5000 + "]" * 5000
write("model_config_fuzz", "model-type-number", '{"model_type": 5}')
write("model_config_fuzz", "modules-type-number", '{"model_type": "bert"}' + sep + '[{"type": 7}]')
write("model_config_fuzz", "deep-nesting", '{"x": ' + deep + "}")
write("model_config_fuzz", "layer-norm-eps-1e300",
      json.dumps({"model_type": "bert", "vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1,
                  "num_attention_heads": 2, "intermediate_size": 8, "layer_norm_eps": 1e300}))

tok = {"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3}},
       "normalizer": {"type": "BertNormalizer"}, "pre_tokenizer": {"type": "BertPreTokenizer"},
       "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 1], "sep": ["[SEP]", 2]}}
for name, i in (("added-id-int-max", 2**31 - 1), ("added-id-200m", 200_000_000)):
    write("tokenizer_json_fuzz", name, json.dumps(dict(tok, added_tokens=[{"id": i, "content": "[X]"}])))
write("tokenizer_json_fuzz", "type-number", json.dumps(dict(tok, model={"type": 5})))
write("tokenizer_json_fuzz", "deep-nesting", '{"model": ' + deep + "}")
write("tokenizer_json_fuzz", "max-chars-per-word-huge",
      json.dumps(dict(tok, model=dict(tok["model"], max_input_chars_per_word=2**31 - 1))))

write("config_json_fuzz", "cache-1e30", "1e30" + sep + "{}")
write("config_json_fuzz", "cache-nan", "nan" + sep + "{}")
write("config_json_fuzz", "deep-nesting", '{"mount": ' + deep + "}")
write("config_json_fuzz", "int64-overflow", '{"net": {"max_inflight": 18446744073709551615}}')

hs = ('{"x": ' + deep + "}").encode()
write("safetensors_fuzz", "deep-header", struct.pack("<Q", len(hs)) + hs)

write("unixfs_fuzz", "hamt-fanout-1", unixfs(5, fanout=1, hash_type=0x22, data=b""))
write("unixfs_fuzz", "hamt-fanout-3", unixfs(5, fanout=3, hash_type=0x22, data=b""))

# A file DAG whose every level links the level below 20 times (1 byte each, says the parent;
# 20 bytes, says the child): exponential for a reader that trusts the child.
leaf = b"a"
blocks = [(cid(0x55, leaf), leaf)]
for _ in range(8):
    below = blocks[-1][0]
    node = pbnode([(below, "", 1)] * 20, unixfs(2, filesize=20, blocksizes=[1] * 20))
    blocks.append((cid(0x70, node), node))
write("unixfs_reader_fuzz", "repeated-children", b"".join(section(c, b) for c, b in reversed(blocks)))

# A HAMT whose every level links one shard under all 256 prefixes.
entry = b"x"
shard = pbnode([(cid(0x55, entry), "00name", 1)], unixfs(5, fanout=256, hash_type=0x22, data=b""))
hamt = [(cid(0x70, shard), shard), (cid(0x55, entry), entry)]
for _ in range(3):
    below = hamt[0][0]
    node = pbnode([(below, "%02X" % i, 1) for i in range(256)], unixfs(5, fanout=256, hash_type=0x22, data=b""))
    hamt.insert(0, (cid(0x70, node), node))
write("unixfs_reader_fuzz", "hamt-repeated-shard", b"".join(section(c, b) for c, b in hamt))
hamt1 = pbnode([], unixfs(5, fanout=1, hash_type=0x22, data=b""))
write("unixfs_reader_fuzz", "hamt-fanout-1", section(cid(0x70, hamt1), hamt1))

write("multibase_fuzz", "long-base36", "k" + "z" * 17000)
write("multibase_fuzz", "long-base58", "z" + "z" * 17000)
write("cid_fuzz", "long-text", "k" + "z" * 17000)
big = b"\x01\x55\x00" + put_uvarint(8192) + b"\xab" * 8192
write("cid_fuzz", "identity-8k", big)
