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
    labels_only = variant in ("ih2-labels", "ih1-alpha", "ih1-beta1")
    if labels_only:
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
    pre = []                                 # the mlp3 classifier's pre-activations
    if classifier == "linear":
        z = u @ np.asarray(params["W"], np.float64).T
    else:
        h = u
        Ws = [params["W1"], params["Wh"][0], params["Wh"][1]]
        for m in range(3):
            pre.append(h @ np.asarray(Ws[m], np.float64).T + float(params["bias"][m]))
            h = np.maximum(pre[-1], 0.0)
        z = h @ np.asarray(params["Wout"], np.float64).T
    attn = np.zeros((nb, 2 * N))
    if labels_only:
        attn[:, N:] = p
    else:
        attn[:] = p
    return {"logits": z, "attn": attn, "u": u, "w": w, "pre": pre}


def loss(params: dict, content, target, variant: str, classifier: str) -> float:
    z = forward(params, content, variant, classifier)["logits"]
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(z)), np.asarray(target)].mean())


def _classifier_backward(params: dict, u: np.ndarray, dz: np.ndarray, classifier: str):
    """∂ℒ/∂u given ∂ℒ/∂z, by explicit back-propagation through the classifier (float64)."""
    if classifier == "linear":
        return dz @ np.asarray(params["W"], np.float64)
    Ws = [np.asarray(params["W1"], np.float64), np.asarray(params["Wh"][0], np.float64),
          np.asarray(params["Wh"][1], np.float64)]
    hs = [u]
    for m in range(3):
        hs.append(np.maximum(hs[-1] @ Ws[m].T + float(params["bias"][m]), 0.0))
    dh = dz @ np.asarray(params["Wout"], np.float64)
    for m in range(2, -1, -1):
        dh = (dh * (hs[m + 1] > 0)) @ Ws[m]
    return dh


def theta_grad(params: dict, content, target, variant: str, classifier: str) -> np.ndarray:
    """Gradient of :func:`loss` with respect to θ = (β₁, α, β₂), by explicit back-propagation
    (the chain rule written out step by step, float64); the entries a variant does not learn
    are 0."""
    from .config import FROZEN
    C = np.asarray(content, np.float64)
    nb, T, D = C.shape
    N = (T - 1) // 2
    al = float(params["theta"][1])
    out = forward(params, C, variant, classifier)
    z, u, w = out["logits"], out["u"], out["w"]
    pz = np.exp(z - z.max(1, keepdims=True))
    pz /= pz.sum(1, keepdims=True)
    dz = pz.copy()
    dz[np.arange(nb), np.asarray(target)] -= 1.0
    dz /= nb                                                  # batch mean
    du = _classifier_backward(params, u, dz, classifier)      # (nb, D)
    x, lab, xq = C[:, 0:2 * N:2], C[:, 1:2 * N:2], C[:, -1]
    lab_tok = lab + w * x
    if variant in ("ih2-labels", "ih1-alpha", "ih1-beta1"):
        toks, p, is_label = lab_tok, out["attn"][:, N:], np.ones(N, bool)
    else:
        toks, p = np.concatenate([x, lab_tok], axis=1), out["attn"]
        is_label = np.r_[np.zeros(N, bool), np.ones(N, bool)]
    dp = np.einsum("bd,bsd->bs", du, toks)                    # u = x_q + Σ p_s t_s
    dtok = p[:, :, None] * du[:, None, :]                     # through the values
    ds = p * (dp - (p * dp).sum(1, keepdims=True))            # softmax backward
    sim = np.einsum("bd,bsd->bs", xq, toks)
    g_al = float((ds * sim).sum())                            # logits α x_q·t_s + β₂[label]
    g_b2 = float((ds * is_label).sum())
    dtok += al * ds[:, :, None] * xq[:, None, :]              # through the keys
    dlab = dtok[:, is_label]                                  # label tokens: ℓ_j + w x_j
    g_w = float((dlab * x).sum())
    g = np.array([g_w * w * (1.0 - w), g_al, g_b2 if variant == "ih3" else 0.0])
    for i in FROZEN[variant]:
        g[i] = 0.0
    return g
