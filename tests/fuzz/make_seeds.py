#!/usr/bin/env python3
"""Writes the seed corpora in corpus/<target>/ from ../shared/fixtures (small CARs only) and a
few hand-made files. Rerun after adding a target; fixed findings (regression-*) are kept."""
import base64, hashlib, json, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "..", "shared", "fixtures", "gateway-conformance")
CORPUS = os.path.join(HERE, "corpus")


def uvarint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << s; s += 7
        if not c & 0x80:
            return v, i


def put_uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80); v >>= 7
    out.append(v)
    return bytes(out)


def read_cid(b, i):
    if b[i] == 0x12 and b[i + 1] == 0x20:
        return b[i:i + 34], i + 34
    start = i
    _, i = uvarint(b, i); _, i = uvarint(b, i); _, i = uvarint(b, i)
    n, i = uvarint(b, i)
    return b[start:i + n], i + n


def sections(car):
    hl, i = uvarint(car, 0)
    i += hl
    while i < len(car):
        n, j = uvarint(car, i)
        cid, k = read_cid(car, j)
        yield car[i:j + n], cid, car[k:j + n]
        i = j + n


def pb_data(block):  # the Data field (1) of a dag-pb node
    i = 0
    while i < len(block):
        key, i = uvarint(block, i)
        if key & 7 != 2:
            return None
        n, i = uvarint(block, i)
        if key >> 3 == 1:
            return block[i:i + n]
        i += n
    return None


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def b32(b):
    return "b" + base64.b32encode(b).decode().lower().rstrip("=")


def main():
    cars = []
    for root, _, files in os.walk(FIX):
        for f in sorted(files):
            p = os.path.join(root, f)
            if f.endswith(".car") and os.path.getsize(p) <= 4096:
                cars.append(p)
    cars.sort()
    seen = set()
    for p in cars:
        car = open(p, "rb").read()
        tag = os.path.basename(os.path.dirname(p)) + "-" + os.path.basename(p)[:-4]
        write("car_reader_fuzz", tag, car)
        write("car_stream_fuzz", tag, b"\x05" + car)
        hl, i = uvarint(car, 0)
        write("unixfs_reader_fuzz", tag, car[i + hl:])
        for sec, cid, block in sections(car):
            h = hashlib.sha256(block).hexdigest()[:12]
            if h in seen:
                continue
            seen.add(h)
            if len(seen) % 3 == 0:
                write("cid_fuzz", h, cid)
                write("multihash_fuzz", h, cid[2:] if cid[0] == 1 else cid)
                write("multibase_fuzz", h, b32(cid))
            codec = cid[1] if cid[0] == 1 else 0x70
            if codec == 0x70:
                write("dagpb_fuzz", h, block)
                d = pb_data(block)
                if d:
                    write("unixfs_fuzz", h, d)
            elif codec in (0x71, 0x0129 & 0xFF):
                write("dagcbor_fuzz", h, block)
    for v in (0, 1, 127, 128, 300, 2**32, 2**63):
        write("varint_fuzz", str(v), put_uvarint(v))
    write("multibase_fuzz", "base36", "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w")
    write("multibase_fuzz", "base58", "zQmVujd5Vb7moysJj8itnGufN7MEtPRCNHkKpNuA4onsRa3")
    write("cid_fuzz", "text-v0", "QmVujd5Vb7moysJj8itnGufN7MEtPRCNHkKpNuA4onsRa3")

    # Model files: a tiny BERT folder's JSON, a safetensors file, a tokenizer.
    cfg = {"model_type": "bert", "vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1,
           "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16,
           "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    pool = {"word_embedding_dimension": 4, "pooling_mode_mean_tokens": True}
    sb = {"max_seq_length": 8, "do_lower_case": False}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s"]
    tok = {"version": "1.0", "added_tokens": [{"id": i, "content": t, "single_word": False,
                                               "normalized": False, "special": True}
                                              for i, t in enumerate(vocab[:5])],
           "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                          "strip_accents": None, "lowercase": True},
           "pre_tokenizer": {"type": "BertPreTokenizer"},
           "post_processor": {"type": "TemplateProcessing",
                              "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                         {"Sequence": {"id": "A", "type_id": 0}},
                                         {"SpecialToken": {"id": "[SEP]", "type_id": 0}}]},
           "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                     "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(vocab)}}}
    sep = "\n--\n"
    write("model_config_fuzz", "full", sep.join(json.dumps(x) for x in (cfg, mods, pool, sb, tok)))
    write("model_config_fuzz", "config-only", json.dumps(cfg))
    write("tokenizer_json_fuzz", "template", json.dumps(tok))
    tok2 = dict(tok, post_processor={"type": "BertProcessing", "cls": ["[CLS]", 2], "sep": ["[SEP]", 3]})
    write("tokenizer_json_fuzz", "bertprocessing", json.dumps(tok2))
    write("tokenize_fuzz", "vocab-and-text", "\n".join(vocab) + sep + "Hello worlds, [MASK]!")
    write("tokenize_fuzz", "text", "unaffable hellos, world! Straße 你好 \u00e9\t\x00x")
    header = {"__metadata__": {"format": "pt"},
              "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
              "b": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]},
              "c": {"dtype": "BF16", "shape": [1], "data_offsets": [20, 22]}}
    hs = json.dumps(header).encode()
    write("safetensors_fuzz", "small", struct.pack("<Q", len(hs)) + hs + bytes(range(22)))
    conf = {"gateways": ["https://trustless-gateway.link"], "kubo_api": None, "offline": False,
            "cache": {"max_bytes": 1 << 30, "verify_on_read": True},
            "net": {"request_timeout_ms": 1000, "max_inflight": 4}, "mount": {"x": 1}}
    write("config_json_fuzz", "full", json.dumps(conf))
    write("config_json_fuzz", "env-and-file", "512M" + sep + "// comment\n" + json.dumps(conf))


if __name__ == "__main__":
    sys.exit(main())
