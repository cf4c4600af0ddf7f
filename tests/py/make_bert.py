#!/usr/bin/python3
"""Builds a random BERT sentence encoder with PyTorch's own layers, writes it as a
sentence-transformers folder (safetensors written here by hand: Debian has no python3-safetensors),
and writes the reference embeddings PyTorch computes for generated sentences.

Run with Debian's /usr/bin/python3 (python3-torch). Sentences are made of whole vocabulary words
so the reference ids need no tokenizer; the tokenizer itself is checked against Hugging Face
`tokenizers` elsewhere (tests/tokenizer_test.cpp).

Outputs in --out: the model folder files, inputs.txt (one sentence a line), expected.f32
(float32 N x D, row-major), expected.json ({"n", "dim", "tokens": [...], "truncated": [...]}),
and with --bench, a timing of PyTorch on the inputs (JSON on stdout).
"""
import argparse
import json
import math
import os
import random
import struct
import time

import numpy as np
import torch
from torch import nn


class Bert(nn.Module):
    """BERT encoder from torch layers: embeddings + LayerNorm, post-LN TransformerEncoder."""

    def __init__(self, vocab, hidden, layers, heads, inter, max_pos, types=2):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_pos, hidden)
        self.tok_type = nn.Embedding(types, hidden)
        self.ln = nn.LayerNorm(hidden, eps=1e-12)
        layer = nn.TransformerEncoderLayer(hidden, heads, inter, dropout=0.0, activation="gelu",
                                           layer_norm_eps=1e-12, batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=True)

    def forward(self, ids, mask):
        # ids, mask: [B, L]; mask 1 for real tokens.
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.word(ids) + self.pos(pos) + self.tok_type(torch.zeros_like(ids))
        x = self.ln(x)
        x = self.encoder(x, src_key_padding_mask=(mask == 0))
        if x.is_nested:
            x = x.to_padded_tensor(0.0, ids.shape + (x.size(-1),))
        return x

    def forward_layers(self, ids, mask):
        """The same computation through each layer's modules, without the nested-tensor fast path
        of TransformerEncoder (which is slower on CPU in torch 1.13)."""
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.ln(self.word(ids) + self.pos(pos) + self.tok_type(torch.zeros_like(ids)))
        pad = mask == 0
        for layer in self.encoder.layers:
            a = layer.self_attn(x, x, x, key_padding_mask=pad, need_weights=False)[0]
            x = layer.norm1(x + a)
            x = layer.norm2(x + layer.linear2(torch.nn.functional.gelu(layer.linear1(x))))
        return x


def pool(h, mask, mode, normalize):
    m = mask.unsqueeze(-1).to(h.dtype)
    outs = []
    for md in mode.split("+"):
        if md == "cls":
            outs.append(h[:, 0])
        elif md == "max":
            outs.append(torch.where(m > 0, h, torch.full_like(h, -1e9)).max(dim=1).values)
        elif md in ("mean", "mean_sqrt_len"):
            s = (h * m).sum(1)
            n = torch.clamp(m.sum(1), min=1e-9)
            outs.append(s / n if md == "mean" else s / torch.sqrt(n))
    out = torch.cat(outs, dim=1)
    if normalize:
        out = torch.nn.functional.normalize(out, p=2, dim=1)
    return out


def round_through(t, dtype):
    if dtype == "F16":
        return t.to(torch.float16).to(torch.float32)
    if dtype == "BF16":
        return t.to(torch.bfloat16).to(torch.float32)
    return t


def tensor_bytes(t, dtype):
    if dtype == "F32":
        return t.detach().contiguous().numpy().astype("<f4").tobytes()
    if dtype == "F16":
        return t.detach().contiguous().numpy().astype("<f2").tobytes()
    if dtype == "BF16":
        return t.detach().contiguous().to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    """tensors: list of (name, tensor). Layout per the safetensors README."""
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        b = tensor_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def bert_tensors(model, names):
    H = model.ln.normalized_shape[0]
    p = "bert." if names == "bert_prefix" else ""
    lnw, lnb = ("gamma", "beta") if names == "gamma_beta" else ("weight", "bias")
    out = [
        (p + "embeddings.word_embeddings.weight", model.word.weight),
        (p + "embeddings.position_embeddings.weight", model.pos.weight),
        (p + "embeddings.token_type_embeddings.weight", model.tok_type.weight),
        (p + "embeddings.LayerNorm." + lnw, model.ln.weight),
        (p + "embeddings.LayerNorm." + lnb, model.ln.bias),
    ]
    for i, layer in enumerate(model.encoder.layers):
        q = f"{p}encoder.layer.{i}."
        W, B = layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias
        for j, part in enumerate(("query", "key", "value")):
            out.append((q + f"attention.self.{part}.weight", W[j * H:(j + 1) * H]))
            out.append((q + f"attention.self.{part}.bias", B[j * H:(j + 1) * H]))
        out += [
            (q + "attention.output.dense.weight", layer.self_attn.out_proj.weight),
            (q + "attention.output.dense.bias", layer.self_attn.out_proj.bias),
            (q + "attention.output.LayerNorm." + lnw, layer.norm1.weight),
            (q + "attention.output.LayerNorm." + lnb, layer.norm1.bias),
            (q + "intermediate.dense.weight", layer.linear1.weight),
            (q + "intermediate.dense.bias", layer.linear1.bias),
            (q + "output.dense.weight", layer.linear2.weight),
            (q + "output.dense.bias", layer.linear2.bias),
            (q + "output.LayerNorm." + lnw, layer.norm2.weight),
            (q + "output.LayerNorm." + lnb, layer.norm2.bias),
        ]
    # Present in real checkpoints and unused: the loader must skip them.
    out.append((p + "pooler.dense.weight", torch.zeros(H, H)))
    out.append((p + "pooler.dense.bias", torch.zeros(H)))
    return out


def export_onnx(model, args, seqs):
    """The model as a sentence-transformers ONNX export has it: input_ids and attention_mask
    [batch, length] int64 in, the pooled (and normalised) sentence_embedding out. Traced through
    forward_layers: TransformerEncoder's nested-tensor path does not export."""
    class Encoder(nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, ids, mask):
            return pool(self.bert.forward_layers(ids, mask), mask, args.pooling, args.normalize)

    ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])  # tracing example; [PAD] is id 0
    mask = (ids != 0).long()
    dyn = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
           "sentence_embedding": {0: "batch"}}
    # Not under no_grad: there MultiheadAttention takes its fused fast path, which has no ONNX
    # export in torch 1.13.
    torch.onnx.export(Encoder(model), (ids, mask), args.onnx, opset_version=14,
                      input_names=["input_ids", "attention_mask"],
                      output_names=["sentence_embedding"], dynamic_axes=dyn)
    with open(os.path.join(args.out, "ids.json"), "w") as f:
        json.dump(seqs, f)
    # torch's embeddings of the first 16 inputs as one padded batch, for the runner of the
    # export to check that it computes the same function (check.f32, [16, dim] float32).
    first = seqs[:16]
    L = max(len(q) for q in first)
    ids = torch.tensor([q + [0] * (L - len(q)) for q in first])
    with torch.inference_mode():
        out = Encoder(model)(ids, (ids != 0).long())
    out.numpy().astype("<f4").tofile(os.path.join(args.out, "check.f32"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=500)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--inter", type=int, default=128)
    ap.add_argument("--max-pos", type=int, default=128)
    ap.add_argument("--max-seq-length", type=int, default=48)
    ap.add_argument("--pooling", default="mean")  # cls, mean, max, mean_sqrt_len, or a+b
    ap.add_argument("--normalize", type=int, default=1)
    ap.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    ap.add_argument("--names", default="plain", choices=["plain", "bert_prefix", "gamma_beta"])
    ap.add_argument("--tokenizer", default="json", choices=["json", "vocab"])
    ap.add_argument("--sentences", type=int, default=40)
    ap.add_argument("--min-words", type=int, default=1)
    ap.add_argument("--max-words", type=int, default=60)
    ap.add_argument("--weight-scale", type=float, default=1.5)
    ap.add_argument("--bench", action="store_true", help="time PyTorch; no expected output")
    ap.add_argument("--no-run", action="store_true", help="write the folder and inputs only")
    ap.add_argument("--onnx", metavar="FILE",
                    help="export the model (pooling and normalisation included) to FILE with "
                         "torch.onnx.export, and the inputs' token ids to OUT/ids.json; no run")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(os.path.join(args.out, "1_Pooling"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "2_Normalize"), exist_ok=True)

    # Vocabulary: specials, then distinct lowercase words.
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = set()
    while len(words) < args.vocab - len(specials):
        words.add("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))))
    vocab = specials + sorted(words)
    ids_of = {w: i for i, w in enumerate(vocab)}

    model = Bert(len(vocab), args.hidden, args.layers, args.heads, args.inter, args.max_pos)
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if prm.dim() == 1:  # biases, LayerNorm: random too, so a swap cannot pass
                prm.copy_((torch.rand_like(prm) * 0.4 + 0.8) if "norm" in name or name == "ln.weight"
                          else torch.randn_like(prm) * 0.1)
            else:
                prm.mul_(args.weight_scale)
            prm.copy_(round_through(prm, args.dtype))
    model.eval()

    H = args.hidden
    write_safetensors(os.path.join(args.out, "model.safetensors"), bert_tensors(model, args.names),
                      args.dtype)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": H,
                   "num_hidden_layers": args.layers, "num_attention_heads": args.heads,
                   "intermediate_size": args.inter, "hidden_act": "gelu",
                   "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
                   "max_position_embeddings": args.max_pos, "type_vocab_size": 2,
                   "vocab_size": len(vocab), "layer_norm_eps": 1e-12,
                   "position_embedding_type": "absolute"}, f, indent=2)
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if args.normalize:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    with open(os.path.join(args.out, "modules.json"), "w") as f:
        json.dump(mods, f, indent=2)
    modes = args.pooling.split("+")
    with open(os.path.join(args.out, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": H,
                   "pooling_mode_cls_token": "cls" in modes,
                   "pooling_mode_mean_tokens": "mean" in modes,
                   "pooling_mode_max_tokens": "max" in modes,
                   "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len" in modes}, f, indent=2)
    with open(os.path.join(args.out, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": args.max_seq_length, "do_lower_case": False}, f)
    if args.tokenizer == "vocab":
        with open(os.path.join(args.out, "vocab.txt"), "w") as f:
            f.write("\n".join(vocab) + "\n")
        with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
            json.dump({"do_lower_case": True, "model_max_length": 512}, f)
    else:
        special = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                    "normalized": False, "special": True} for i, s in enumerate(specials)]
        tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
               "normalizer": {"type": "BertNormalizer", "clean_text": True,
                              "handle_chinese_chars": True, "strip_accents": None,
                              "lowercase": True},
               "pre_tokenizer": {"type": "BertPreTokenizer"},
               "post_processor": {"type": "TemplateProcessing",
                                  "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                             {"Sequence": {"id": "A", "type_id": 0}},
                                             {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                                  "pair": [],
                                  "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                                     "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
               "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
               "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                         "max_input_chars_per_word": 100, "vocab": ids_of}}
        with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
            json.dump(tok, f)

    # Sentences of whole words; some capitalised (the tokenizer lowercases), one past the limit.
    sentences, seqs, truncated = [], [], []
    for i in range(args.sentences):
        n = rnd.randint(args.min_words, args.max_words)
        ws = [rnd.choice(vocab[len(specials):]) for _ in range(n)]
        text = " ".join(w.capitalize() if rnd.random() < 0.2 else w for w in ws)
        ids = [2] + [ids_of[w] for w in ws] + [3]
        truncated.append(len(ids) > args.max_seq_length)
        if len(ids) > args.max_seq_length:
            ids = ids[:args.max_seq_length - 1] + [3]
        sentences.append(text)
        seqs.append(ids)
    with open(os.path.join(args.out, "inputs.txt"), "w") as f:
        f.write("\n".join(sentences) + "\n")

    if args.onnx:
        export_onnx(model, args, seqs)
        return
    if args.no_run:
        return
    if args.threads:
        torch.set_num_threads(args.threads)

    def run(batch_seqs, layer_by_layer=False):
        L = max(len(s) for s in batch_seqs)
        ids = torch.zeros(len(batch_seqs), L, dtype=torch.long)
        mask = torch.zeros(len(batch_seqs), L, dtype=torch.long)
        for j, s in enumerate(batch_seqs):
            ids[j, :len(s)] = torch.tensor(s)
            mask[j, :len(s)] = 1
        if layer_by_layer:
            h = model.forward_layers(ids, mask)
        else:
            h = model(ids, mask)
        return pool(h, mask, args.pooling, args.normalize)

    if args.bench:
        # As sentence-transformers encode(): sort by length, batches of --batch, inference mode.
        # Both torch paths are timed on the first 640 sentences; the faster one runs them all.
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        with torch.inference_mode():
            probe = sorted(range(min(640, len(seqs))), key=lambda i: -len(seqs[i]))
            timing = {}
            for lbl in (False, True):
                run([seqs[i] for i in probe[:args.batch]], lbl)  # warm-up
                t0 = time.perf_counter()
                for k in range(0, len(probe), args.batch):
                    run([seqs[i] for i in probe[k:k + args.batch]], lbl)
                timing[lbl] = time.perf_counter() - t0
            lbl = timing[True] < timing[False]
            t0 = time.perf_counter()
            for k in range(0, len(order), args.batch):
                run([seqs[i] for i in order[k:k + args.batch]], lbl)
            dt = time.perf_counter() - t0
        tokens = sum(len(s) for s in seqs)
        print(json.dumps({"engine": "pytorch", "torch": torch.__version__,
                          "path": "layer by layer" if lbl else "TransformerEncoder (nested tensors)",
                          "threads": torch.get_num_threads(), "sentences": len(seqs),
                          "tokens": tokens, "seconds": dt, "sentences_per_s": len(seqs) / dt,
                          "tokens_per_s": tokens / dt}))
        return

    with torch.inference_mode():
        out = torch.cat([run(seqs[k:k + 16]) for k in range(0, len(seqs), 16)])
    out.numpy().astype("<f4").tofile(os.path.join(args.out, "expected.f32"))
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump({"n": len(seqs), "dim": out.shape[1], "tokens": [len(s) for s in seqs],
                   "truncated": truncated}, f)


if __name__ == "__main__":
    main()
