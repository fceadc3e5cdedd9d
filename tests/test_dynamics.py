"""The attention diagnostics on constructed matrices and tiny models."""

import torch

from attnablate.model.config import ModelConfig
from attnablate.model.transformer import Transformer
from attnablate.train.dynamics import (
    diagnose,
    form_statistics,
    head_factors,
    symmetric_part_eigenvalues,
)


def test_symmetry_score_of_constructed_forms():
    torch.manual_seed(0)
    a = torch.randn(4, 12)
    assert form_statistics(a, a)["symmetry"] == 1.0  # M = AᵀA, symmetric
    assert form_statistics(a, a)["neg_share"] < 1e-12  # and positive semi-definite
    # an antisymmetric M = AᵀB − BᵀA = [A; B]ᵀ [B; −A]
    b = torch.randn(4, 12)
    left, right = torch.cat([a, b]), torch.cat([b, -a])
    stats = form_statistics(left, right)
    assert abs(stats["symmetry"]) < 1e-9
    random = form_statistics(torch.randn(64, 256), torch.randn(64, 256))["symmetry"]
    assert 0.4 < random < 0.6


def test_form_statistics_match_the_full_matrix():
    torch.manual_seed(1)
    a, b = torch.randn(3, 10), torch.randn(3, 10)
    m = a.double().T @ b.double()
    s = (m + m.T) / 2
    stats = form_statistics(a, b)
    assert abs(stats["symmetry"] - (s.norm() ** 2 / m.norm() ** 2).item()) < 1e-9
    eig = torch.linalg.eigvalsh(s)
    assert abs(stats["eig_mean"] * 6 - eig.sum().item()) < 1e-9  # the 2·hd non-zero ones


def test_eigenvalue_statistics_leave_out_the_zeros_of_tied_keys():
    """qq's form AᵀA has rank hd: its statistics are those of the hd eigenvalues of A Aᵀ, not
    of those and hd structural zeros."""
    torch.manual_seed(4)
    a = torch.randn(4, 12)
    true = torch.linalg.eigvalsh(a.double() @ a.double().T)  # the 4 non-zero eigenvalues
    stats = form_statistics(a, a)
    assert abs(stats["eig_mean"] - true.mean().item()) < 1e-9
    assert abs(stats["eig_std"] - true.std().item()) < 1e-9
    assert len(symmetric_part_eigenvalues(a.double(), a.double())) == 4
    # an antisymmetric form has a zero symmetric part: no eigenvalue is left
    b = torch.randn(4, 12)
    left, right = torch.cat([a, b]).double(), torch.cat([b, -a]).double()
    assert len(symmetric_part_eigenvalues(left, right)) == 0


def test_qq_forms_are_symmetric_and_qdq_can_be_indefinite():
    torch.manual_seed(2)
    qq = Transformer(ModelConfig(vocab_size=30, d_model=16, n_heads=2, d_ff=32, variant="qq@enc"))
    for a, b in head_factors(qq.encoder[0].attn, 16):
        assert abs(form_statistics(a, b)["symmetry"] - 1) < 1e-12
    qdq = Transformer(ModelConfig(vocab_size=30, d_model=16, n_heads=2, d_ff=32, variant="qdq@enc"))
    with torch.no_grad():
        qdq.encoder[0].attn.key_scale.weight.copy_(torch.tensor([1.0, -1.0] * 8))
    stats = [form_statistics(a, b) for a, b in head_factors(qdq.encoder[0].attn, 16)]
    assert all(abs(s["symmetry"] - 1) < 1e-12 and s["neg_share"] > 0.1 for s in stats)


def test_diagnose_covers_every_site_layer_and_head():
    torch.manual_seed(3)
    model = Transformer(ModelConfig(vocab_size=30, d_model=16, n_heads=2, d_ff=32, dropout=0.0))
    src, tgt = torch.randint(1, 30, (2, 6)), torch.randint(1, 30, (2, 5))
    src[1, 4:] = 0
    rows = diagnose(model, src, tgt, step=7)
    assert len(rows) == (2 + 2 * 2) * 2  # enc 2 layers, dec and cross 2 layers each, 2 heads
    for row in rows:
        assert row["step"] == 7 and 0 <= row["symmetry"] <= 1 and row["entropy"] > 0
        assert (row["diag_mass"] is None) == (row["site"] == "cross")
    assert model.training  # diagnostics leave the model as they found it
