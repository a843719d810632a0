#!/usr/bin/env python3
# Exports small transformer models with torch.onnx.export (random weights, fixed seeds) for
# milkit's transformer tests: NAME.onnx plus NAME.inputs.npz (one sample, keys = ONNX input
# names) per model into OUTDIR (default tests/.cache/transformers). Files are replaced
# atomically; a STAMP file (hash of this script + torch version) lets a rerun skip the work.
# Usage: python3 scripts/export_transformers.py [OUTDIR] [--only NAME...] [--force]
#        python3 scripts/export_transformers.py --sample NAME OUT.npz --seq S [--past P]
#        (inputs for another length: bert, llama, gpt2; gpt2's cache of length P may be 0)
import hashlib
import math
import os
import sys
import tempfile
import warnings

import numpy as np


def sample(name, out, s, p):
    """Inputs of sequence length s (and cache length p) for a dynamic model, seeded by both."""
    rng = np.random.default_rng(7000 + 131 * s + p)
    d = {}
    if name == "bert":
        d["input_ids"] = rng.integers(1, 128, (1, s)).astype(np.int64)
        am = np.ones((1, s), np.int64)
        am[0, (3 * s) // 4 + 1:] = 0  # padding at the end (never the whole row)
        d["attention_mask"] = am
    elif name == "llama":
        d["input_ids"] = rng.integers(0, 256, (1, s)).astype(np.int64)
        d["position_ids"] = np.arange(s, dtype=np.int64)[None]
    elif name == "gpt2":
        d["input_ids"] = rng.integers(0, 256, (1, s)).astype(np.int64)
        d["position_ids"] = np.arange(p, p + s, dtype=np.int64)[None]
        for i in range(2):
            for kind in ("key", "value"):
                d["past_%s_%d" % (kind, i)] = rng.standard_normal((1, 4, p, 16)).astype(np.float32)
    else:
        print("export_transformers: --sample: '%s' has no sequence axis (bert, llama, gpt2)" % name,
              file=sys.stderr)
        return 2
    np.savez(out, **d)
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--sample"]:  # no torch needed
    a = sys.argv[1:]
    if len(a) < 5 or a[3] != "--seq":
        print("export_transformers: --sample NAME OUT.npz --seq S [--past P]", file=sys.stderr)
        sys.exit(2)
    sys.exit(sample(a[1], a[2], int(a[4]), int(a[6]) if len(a) > 6 and a[5] == "--past" else 0))

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the caller prints the reason and skips
    print("export_transformers: needs torch: %s" % e, file=sys.stderr)
    sys.exit(3)

NAMES = ["vit", "wav2vec2", "bert_static", "bert", "whisper_enc", "llama", "gpt2"]


# ---- BERT-style: embeddings + nn.TransformerEncoder with a key-padding mask ----
class Bert(nn.Module):
    def __init__(self, vocab=128, d=64, heads=4, layers=2, max_len=512):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=128, dropout=0.0,
                                           activation="gelu", batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, d)

    def forward(self, input_ids, attention_mask):
        s = input_ids.shape[1]
        pos = torch.arange(s, device=input_ids.device).unsqueeze(0)
        x = self.norm(self.tok(input_ids) + self.pos(pos))
        x = self.enc(x, src_key_padding_mask=attention_mask == 0)
        return torch.tanh(self.head(x))


# ---- Whisper-style encoder: conv stem, sinusoidal positions, pre-LN blocks ----
def sinusoids(length, channels, max_timescale=10000.0):
    inc = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float32))
    t = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


class MHA(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d)
        self.o = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        dh = d // self.h

        def split(y):
            return y.view(b, t, self.h, dh).permute(0, 2, 1, 3)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        w = (q @ k.transpose(-1, -2)) * dh ** -0.5
        y = (w.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, t, d)
        return self.o(y)


class WhisperBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = MHA(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class WhisperEnc(nn.Module):
    def __init__(self, mels=16, d=64, heads=4, layers=2, ctx=64):
        super().__init__()
        self.conv1 = nn.Conv1d(mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(ctx, d))
        self.blocks = nn.ModuleList(WhisperBlock(d, heads) for _ in range(layers))
        self.ln_post = nn.LayerNorm(d)

    def forward(self, input_features):
        x = F.gelu(self.conv1(input_features))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        x = x + self.positional_embedding[: x.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.ln_post(x)


# ---- LLaMA-style: RMSNorm, RoPE from positions, GQA 8q/2kv, SwiGLU, causal mask ----
class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(1 + 0.1 * torch.randn(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaAttn(nn.Module):
    def __init__(self, d, heads, kv_heads):
        super().__init__()
        self.h, self.kv, self.dh = heads, kv_heads, d // heads
        self.q_proj = nn.Linear(d, heads * self.dh, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * self.dh, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * self.dh, bias=False)
        self.o_proj = nn.Linear(heads * self.dh, d, bias=False)

    def repeat_kv(self, x):
        b, kv, s, dh = x.shape
        n = self.h // self.kv
        return x[:, :, None, :, :].expand(b, kv, n, s, dh).reshape(b, kv * n, s, dh)

    def forward(self, x, cos, sin, mask):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.h, self.dh).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.kv, self.dh).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.kv, self.dh).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = self.repeat_kv(k), self.repeat_kv(v)
        w = q @ k.transpose(2, 3) / math.sqrt(self.dh) + mask
        w = F.softmax(w, dim=-1, dtype=torch.float32)
        y = (w @ v).transpose(1, 2).reshape(b, s, self.h * self.dh)
        return self.o_proj(y)


class LlamaBlock(nn.Module):
    def __init__(self, d, heads, kv_heads, ffn):
        super().__init__()
        self.input_layernorm = RMSNorm(d)
        self.self_attn = LlamaAttn(d, heads, kv_heads)
        self.post_attention_layernorm = RMSNorm(d)
        self.gate_proj = nn.Linear(d, ffn, bias=False)
        self.up_proj = nn.Linear(d, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, d, bias=False)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, vocab=256, d=64, heads=8, kv_heads=2, layers=2, ffn=172):
        super().__init__()
        self.dh = d // heads
        self.embed_tokens = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(LlamaBlock(d, heads, kv_heads, ffn) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, self.dh, 2, dtype=torch.float32) / self.dh))
        self.register_buffer("inv_freq", inv)

    def forward(self, input_ids, position_ids):
        s = input_ids.shape[1]
        x = self.embed_tokens(input_ids)
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        i = torch.arange(s, device=input_ids.device)
        mask = torch.zeros(s, s).masked_fill(i[None, :] > i[:, None], torch.finfo(torch.float32).min)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


# ---- GPT-2-style decoder with an explicit KV cache ----
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Block(nn.Module):
    def __init__(self, d, heads, n_pos):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)
        self.register_buffer("bias", torch.tril(torch.ones(n_pos, n_pos, dtype=torch.bool))[None, None])
        self.register_buffer("masked_bias", torch.tensor(-1e4))

    def forward(self, x, past_k, past_v):
        b, s, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)

        def heads(y):
            return y.view(b, s, self.h, self.dh).permute(0, 2, 1, 3)
        q, k, v = heads(q), heads(k), heads(v)
        k = torch.cat((past_k, k), dim=-2)
        v = torch.cat((past_v, v), dim=-2)
        w = torch.matmul(q, k.transpose(-1, -2)) / (float(v.size(-1)) ** 0.5)
        ql, kl = q.size(-2), k.size(-2)
        causal = self.bias[:, :, kl - ql: kl, :kl]
        w = torch.where(causal, w, self.masked_bias.to(w.dtype))
        w = F.softmax(w, dim=-1)
        y = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(b, s, d)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(gelu_new(self.c_fc(self.ln_2(x))))
        return x, k, v


class GPT2(nn.Module):
    def __init__(self, vocab=256, d=64, heads=4, layers=2, n_pos=512):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(n_pos, d)
        self.h = nn.ModuleList(GPT2Block(d, heads, n_pos) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, input_ids, position_ids, *past):
        x = self.wte(input_ids) + self.wpe(position_ids)
        presents = []
        for i, blk in enumerate(self.h):
            x, k, v = blk(x, past[2 * i], past[2 * i + 1])
            presents += [k, v]
        logits = torch.matmul(self.ln_f(x), self.wte.weight.t())
        return (logits, *presents)


class Wav2Vec2Out(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, waveform):
        return self.m(waveform)[0]


def build(name, rng):
    """Returns (module, input names, sample inputs, output names, dynamic axes, opset)."""
    if name == "vit":
        from torchvision.models import VisionTransformer
        m = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4,
                              hidden_dim=64, mlp_dim=128, num_classes=32)
        with torch.no_grad():  # torchvision zero-initialises the head and class token
            m.heads.head.weight.normal_(0, 0.2)
            m.heads.head.bias.normal_(0, 0.2)
            m.class_token.normal_(0, 0.2)
        x = torch.from_numpy(rng.standard_normal((1, 3, 32, 32)).astype(np.float32))
        return m, ["pixel_values"], [x], ["logits"], None, 14
    if name == "wav2vec2":
        from torchaudio.models import wav2vec2_model
        m = wav2vec2_model(extractor_mode="group_norm",
                           extractor_conv_layer_config=[(32, 10, 5), (32, 3, 2), (32, 2, 2)],
                           extractor_conv_bias=False, encoder_embed_dim=64,
                           encoder_projection_dropout=0.0, encoder_pos_conv_kernel=16,
                           encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=4,
                           encoder_attention_dropout=0.0, encoder_ff_interm_features=128,
                           encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
                           encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=None)
        x = torch.from_numpy((0.3 * rng.standard_normal((1, 1600))).astype(np.float32))
        return Wav2Vec2Out(m), ["waveform"], [x], ["hidden_states"], None, 14
    if name in ("bert", "bert_static"):
        s = 16
        ids = torch.from_numpy(rng.integers(1, 128, (1, s)).astype(np.int64))
        am = torch.ones(1, s, dtype=torch.int64)
        am[0, 12:] = 0
        dyn = None if name == "bert_static" else {"input_ids": {1: "seq"}, "attention_mask": {1: "seq"},
                                                  "last_hidden_state": {1: "seq"}}
        return Bert(), ["input_ids", "attention_mask"], [ids, am], ["last_hidden_state"], dyn, 17
    if name == "whisper_enc":
        x = torch.from_numpy(rng.standard_normal((1, 16, 100)).astype(np.float32))
        return WhisperEnc(), ["input_features"], [x], ["last_hidden_state"], None, 17
    if name == "llama":
        s = 11
        ids = torch.from_numpy(rng.integers(0, 256, (1, s)).astype(np.int64))
        pos = torch.arange(s, dtype=torch.int64)[None]
        dyn = {"input_ids": {1: "seq"}, "position_ids": {1: "seq"}, "logits": {1: "seq"}}
        return Llama(), ["input_ids", "position_ids"], [ids, pos], ["logits"], dyn, 14
    if name == "gpt2":
        layers, heads, dh, s, p = 2, 4, 16, 9, 7
        ids = torch.from_numpy(rng.integers(0, 256, (1, s)).astype(np.int64))
        pos = torch.arange(p, p + s, dtype=torch.int64)[None]
        names, ins, outs = ["input_ids", "position_ids"], [ids, pos], ["logits"]
        dyn = {"input_ids": {1: "seq"}, "position_ids": {1: "seq"}, "logits": {1: "seq"}}
        for i in range(layers):
            for kind in ("key", "value"):
                names.append("past_%s_%d" % (kind, i))
                outs.append("present_%s_%d" % (kind, i))
                ins.append(torch.from_numpy(rng.standard_normal((1, heads, p, dh)).astype(np.float32)))
                dyn[names[-1]] = {2: "past"}
                dyn[outs[-1]] = {2: "total"}
        return GPT2(layers=layers, heads=heads), names, ins, outs, dyn, 15
    raise ValueError(name)


def export(name, outdir):
    torch.manual_seed(1000 + NAMES.index(name))
    rng = np.random.default_rng(2000 + NAMES.index(name))
    m, in_names, ins, out_names, dyn, opset = build(name, rng)
    m.eval()
    fd, tmp = tempfile.mkstemp(prefix=".%s." % name, suffix=".onnx", dir=outdir)
    os.close(fd)
    try:
        # grad enabled on purpose: under no_grad torch 1.13 takes the fused
        # _native_multi_head_attention path, which has no ONNX export
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, tuple(ins), tmp, input_names=in_names, output_names=out_names,
                              dynamic_axes=dyn, opset_version=opset, do_constant_folding=True)
        fd, tmpz = tempfile.mkstemp(prefix=".%s." % name, suffix=".npz", dir=outdir)
        os.close(fd)
        np.savez(tmpz, **{n: t.numpy() for n, t in zip(in_names, ins)})
        os.chmod(tmpz, 0o644)
        os.chmod(tmp, 0o644)
        os.replace(tmpz, os.path.join(outdir, name + ".inputs.npz"))
        os.replace(tmp, os.path.join(outdir, name + ".onnx"))
    finally:
        for f in (tmp,):
            if os.path.exists(f):
                os.unlink(f)


def main(argv):
    outdir, only, force = "tests/.cache/transformers", [], False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--only":
            while i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                only.append(argv[i + 1])
                i += 1
        elif a == "--force":
            force = True
        elif a.startswith("--"):
            print("export_transformers: unknown option %s" % a, file=sys.stderr)
            return 2
        else:
            outdir = a
        i += 1
    for n in only:
        if n not in NAMES:
            print("export_transformers: unknown model '%s' (known: %s)" % (n, " ".join(NAMES)),
                  file=sys.stderr)
            return 2
    os.makedirs(outdir, exist_ok=True)
    with open(__file__, "rb") as f:
        stamp = hashlib.sha256(f.read() + torch.__version__.encode()).hexdigest()[:16]
    stamp_path = os.path.join(outdir, "STAMP")
    old = open(stamp_path).read().strip() if os.path.exists(stamp_path) else ""
    todo = only or NAMES
    if old != stamp:
        force = True
    for n in todo:
        have = all(os.path.exists(os.path.join(outdir, n + e)) for e in (".onnx", ".inputs.npz"))
        if force or not have:
            export(n, outdir)
    if not only:
        fd, tmp = tempfile.mkstemp(prefix=".stamp.", dir=outdir)
        with os.fdopen(fd, "w") as f:
            f.write(stamp + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, stamp_path)
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(sys.argv[1:]))
