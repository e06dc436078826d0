"""Plain NumPy reference of the minimal induction-head models (float64, obviously correct):
builds the layer-1 tokens explicitly, softmaxes over the attended context tokens, applies the
classifier, and returns the mean cross-entropy.  Gradients for the tests come from central
differences of :func:`loss`."""

from __future__ import annotations

import numpy as np



def forward(params: dict, content: np.ndarray, variant: str, classifier: str) -> dict:
    C = np.asarray(content, np.float64)
    nb, T, D = C.shape
    N = (T - 1) // 2
    b1, al, b2 = (float(v) for v in params["theta"])
    if variant == "ih2":
        b2 = 0.0
    w = 1.0 / (1.0 + np.exp(-b1))
    x = C[:, 0:2 * N:2]                      # items (nb, N, D)
    lab = C[:, 1:2 * N:2]                    # labels
    xq = C[:, -1]
    lab_tok = lab + w * x                    # layer 1 copies each item into its label
    if variant == "ih2-labels":
        toks = lab_tok
        is_label = np.ones(N, bool)
    else:
        toks = np.concatenate([x, lab_tok], axis=1)        # items first, then labels
        is_label = np.r_[np.zeros(N, bool), np.ones(N, bool)]
    logits_att = al * np.einsum("bd,bsd->bs", xq, toks) + b2 * is_label
    logits_att -= logits_att.max(1, keepdims=True)
    p = np.exp(logits_att)
    p /= p.sum(1, keepdims=True)
    u = xq + np.einsum("bs,bsd->bd", p, toks)
    if classifier == "linear":
        z = u @ np.asarray(params["W"], np.float64).T
    else:
        h = u
        Ws = [params["W1"], params["Wh"][0], params["Wh"][1]]
        for m in range(3):
            h = np.maximum(h @ np.asarray(Ws[m], np.float64).T + float(params["bias"][m]), 0.0)
        z = h @ np.asarray(params["Wout"], np.float64).T
    attn = np.zeros((nb, 2 * N))
    if variant == "ih2-labels":
        attn[:, N:] = p
    else:
        attn[:] = p
    return {"logits": z, "attn": attn, "u": u, "w": w}


def loss(params: dict, content, target, variant: str, classifier: str) -> float:
    z = forward(params, content, variant, classifier)["logits"]
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(z)), np.asarray(target)].mean())
