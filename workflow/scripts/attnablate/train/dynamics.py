"""Learning-dynamics diagnostics of attention, logged while a model trains.

Per attention site, layer and head:

- ``symmetry``: the share of the squared Frobenius norm of the bilinear form M = W_Qᵀ W_K
  (score(x, y) = x M yᵀ up to bias terms) that lies in its symmetric part (M + Mᵀ)/2:
  1 for a symmetric form (``qq``), 0 for an antisymmetric one, ½ on average at random.
- ``eig_mean``, ``eig_std``, ``neg_share``: the non-zero eigenvalues of the symmetric part,
  their mean and spread, and the share of their absolute mass that is negative (0 for the
  positive semi-definite W Wᵀ of ``qq``; an indefinite form has some). Zeros that the
  construction imposes (``qq`` has rank hd, not 2hd) are left out: see
  ``symmetric_part_eigenvalues`` for how zero is decided.
- ``diag_mass`` (self-attention only): the mean attention weight of a token on itself.
- ``entropy``: the mean entropy (nats) of a token's attention distribution.

The bilinear form is computed in its low-rank factors (head_dim wide), so it stays cheap at
d_model 2048. Unit-norm keys (``qq_selfmask``) rescale scores per key; the form leaves that out.

A decoder-only model's one site, ``self``, is reported as two parts (PARTS): ``prefix``, the
source's queries (bidirectional, or causal), and ``target``, the target's (causal). The form
is the same for both; attention on self and entropy are each part's own.
"""

import numpy as np
import sentencepiece as spm
import torch
import torch.nn as nn

from attnablate.data.batches import collate
from attnablate.data.tokenizer import load_split
from attnablate.io import write_npz
from attnablate.model.attention import Attention
from attnablate.model.transformer import DecoderOnlyTransformer
from attnablate.train.checkpoint import load_checkpoint

COLUMNS = [
    "step",
    "site",
    "layer",
    "head",
    "symmetry",
    "eig_mean",
    "eig_std",
    "neg_share",
    "diag_mass",
    "entropy",
]


def projection_matrix(module: nn.Module, dim: int) -> torch.Tensor:
    """The matrix of a projection: a Linear's weight, or the identity. (out, in)"""
    if isinstance(module, nn.Identity):
        return torch.eye(dim)
    return module.weight.detach().float().cpu()


def head_factors(attn: Attention, d_model: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per query head, (A, B) with M = Aᵀ B: A the head's query rows, B its key rows."""
    wq = projection_matrix(attn.q_proj, d_model)  # (H*hd, C)
    wk = projection_matrix(attn.k_proj, d_model)  # (Hkv*hd, C)
    if hasattr(attn.key_scale, "weight"):  # qdq: keys are D·(W x)
        wk = attn.key_scale.weight.detach().float().cpu()[:, None] * wk
    hd, groups = attn.head_dim, attn.n_heads // attn.kv_heads
    factors = []
    for h in range(attn.n_heads):
        g = h // groups
        factors.append((wq[h * hd : (h + 1) * hd], wk[g * hd : (g + 1) * hd]))  # (hd, C) each
    return factors


def symmetric_part_eigenvalues(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The non-zero eigenvalues of the symmetric part S = (AᵀB + BᵀA)/2 of M = AᵀB, without
    forming the C×C matrix. (A, B: (hd, C) float64.)

    S = Uᵀ J U with U = [A; B] and J = [[0, I/2], [I/2, 0]]. With the SVD U = P Σ Qᵀ, the
    non-zero eigenvalues of S are those of the r×r matrix Σ_r P_rᵀ J P_r Σ_r, where r is the
    rank of U. What counts as zero: a singular value of U, or an eigenvalue of S, below
    ``σ_max · max(2hd, C) · ε`` (for an eigenvalue, ``σ_max² · max(2hd, C) · ε``), ε the
    float64 machine epsilon: numpy's matrix_rank rule. So tied keys (``qq``: U = [A; A], rank
    hd) give hd eigenvalues, not hd true ones and hd structural zeros.
    """
    hd, dim = a.shape
    u = torch.cat([a, b])  # (2hd, C)
    p, sigma, _ = torch.linalg.svd(u, full_matrices=False)  # (2hd, k), (k,)
    if sigma.numel() == 0 or sigma[0] == 0:
        return sigma.new_zeros(0)
    tol = sigma[0] * max(2 * hd, dim) * torch.finfo(u.dtype).eps
    keep = sigma > tol
    p, sigma = p[:, keep], sigma[keep]  # (2hd, r), (r,)
    j = torch.zeros(2 * hd, 2 * hd, dtype=u.dtype)
    j[:hd, hd:] = j[hd:, :hd] = 0.5 * torch.eye(hd, dtype=u.dtype)
    reduced = sigma[:, None] * (p.T @ j @ p) * sigma[None, :]  # (r, r), symmetric
    eig = torch.linalg.eigvalsh(reduced)  # (r,)
    return eig[eig.abs() > tol * sigma[0]]


def form_statistics(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Symmetry and eigenvalue statistics of M = Aᵀ B without forming the C×C matrix; the
    eigenvalue statistics are over the non-zero spectrum of the symmetric part."""
    a, b = a.double(), b.double()
    norm2 = torch.trace((a @ a.T) @ (b @ b.T))  # ||M||²  = tr(Bᵀ A Aᵀ B)
    trace_mm = torch.trace((b @ a.T) @ (b @ a.T))  # tr(M M) = tr(Aᵀ B Aᵀ B)
    symmetry = (0.5 * (1 + trace_mm / norm2)).item() if norm2 > 0 else float("nan")
    eig = symmetric_part_eigenvalues(a, b)
    mass = eig.abs().sum()
    return {
        "symmetry": symmetry,
        "eig_mean": eig.mean().item() if eig.numel() else float("nan"),
        "eig_std": eig.std().item() if eig.numel() > 1 else float("nan"),
        "neg_share": (eig.clamp(max=0).abs().sum() / mass).item() if mass > 0 else 0.0,
    }


# The parts of a site reported on their own rows: a decoder-only model's self-attention
# serves the source prefix and the target. A site not named here is one part, itself.
PARTS = {("decoder_only", "self"): ("prefix", "target")}


def parts_of(model, site: str) -> tuple:
    """The parts of one of the model's sites reported on rows of their own."""
    return PARTS.get((model.cfg.architecture, site), (site,))


def query_masks(model, *inputs) -> dict:
    """site or part -> (B, T) bool: the real queries of its attention weights, on a batch of
    the model's ``inputs``."""
    pad = model.cfg.pad_id
    if model.cfg.architecture == "encoder_only":
        return {"self": inputs[0].ne(pad)}
    src, tgt_in = inputs
    src_real, tgt_real = src.ne(pad), tgt_in.ne(pad)  # (B, S), (B, T)
    if not isinstance(model, DecoderOnlyTransformer):
        return {"enc": src_real, "dec": tgt_real, "cross": tgt_real}
    src_len = src_real.sum(1, keepdim=True)  # (B, 1)
    p = torch.arange(src.size(1) + tgt_in.size(1), device=src.device)[None, :]  # (1, L)
    in_target = (p >= src_len) & (p < src_len + tgt_real.sum(1, keepdim=True))  # (B, L)
    return {"prefix": p < src_len, "target": in_target}


@torch.no_grad()
def attention_statistics(model, *inputs) -> dict:
    """(site or part, layer) -> per head (diag_mass or None, entropy), on one fixed batch of
    the model's ``inputs``."""
    was_training = model.training
    model.eval()
    weights = model.attention_weights(*inputs)
    model.train(was_training)
    masks = query_masks(model, *inputs)
    stats = {}
    for (site, layer), w in weights.items():
        w = w.float()  # (B, H, T, S)
        entropy = -(w * w.clamp_min(1e-12).log()).sum(-1)  # (B, H, T)
        d = w.diagonal(dim1=-2, dim2=-1) if site != "cross" else None  # (B, H, T)
        for part in parts_of(model, site):
            q_mask = masks[part][:, None, :].float()  # (B, 1, T)
            count = q_mask.sum((0, 2))  # (1,)
            diag = None if d is None else (d * q_mask).sum((0, 2)) / count  # (H,)
            stats[part, layer] = (diag, (entropy * q_mask).sum((0, 2)) / count)
    return stats


def diagnose(model, *inputs, step: int) -> list[dict]:
    """Every diagnostic of every head on a batch of the model's ``inputs``, as rows of
    dynamics.tsv (a site's parts on rows of their own, their form the site's)."""
    attention = attention_statistics(model, *inputs)
    rows = []
    for site, layer, attn in model.attention_modules():
        forms = [form_statistics(a, b) for a, b in head_factors(attn, model.cfg.d_model)]
        for part in parts_of(model, site):
            diag, entropy = attention[part, layer]
            for head, form in enumerate(forms):
                rows.append(
                    {
                        "step": step,
                        "site": part,
                        "layer": layer,
                        "head": head,
                        **form,
                        "diag_mass": None if diag is None else diag[head].item(),
                        "entropy": entropy[head].item(),
                    }
                )
    return rows


PROBE_LENGTH = (8, 16)  # source pieces of the sentence whose attention maps are drawn


def probe_sentence(src: list, tgt: list) -> int:
    """The first test sentence of readable length: the same one for every run."""
    low, high = PROBE_LENGTH
    for i, ids in enumerate(src):
        if low <= len(ids) <= high and low <= len(tgt[i]) <= high:
            return i
    return 0


@torch.no_grad()
def attention_maps(model, src_ids, tgt_ids) -> dict:
    """Head-averaged attention weights of every site's last layer on one sentence pair,
    teacher-forced with its reference: {"enc": (S, S), "dec": (T, T), "cross": (T, S)}; a
    decoder-only model's {"prefix": (S, S), "target": (T, T), "target_prefix": (T, S)}, the
    blocks of its packed row; an encoder-only model's {"self": (S, S)} on the source alone."""
    src, tgt_in, _ = collate([src_ids], [tgt_ids])
    inputs = (src,) if model.cfg.architecture == "encoder_only" else (src, tgt_in)
    model.eval()
    last = {}
    for (site, _layer), w in model.attention_weights(*inputs).items():
        last[site] = w[0].mean(0).float().numpy()  # the last layer of each site wins
    if isinstance(model, DecoderOnlyTransformer):
        S, w = src.size(1), last.pop("self")  # one sentence: its packed row has no padding
        last.update(prefix=w[:S, :S], target=w[S:, S:], target_prefix=w[S:, :S])
    return last


def write_attention_maps(checkpoint, spm_model, test, output) -> None:
    """The attention maps of a run's best ``checkpoint`` on the probe sentence of the
    ``test`` split (an id file), with its pieces, to ``output`` (.npz)."""
    model, _ = load_checkpoint(checkpoint)
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    src, tgt = load_split(test)
    i = probe_sentence(src, tgt)
    maps = attention_maps(model, src[i], tgt[i])
    src_pieces = [sp.id_to_piece(int(t)) for t in src[i]] + ["</s>"]
    tgt_pieces = ["<s>"] + [sp.id_to_piece(int(t)) for t in tgt[i]]
    write_npz(
        output, sentence=np.array(i), src=np.array(src_pieces), tgt=np.array(tgt_pieces), **maps
    )
    print(f"attention maps of test sentence {i}: {' '.join(src_pieces)}")
