"""The start of ``qq_centred``: tied keys whose attention begins where ``qk``'s does.

Keys tied to queries score a position with itself ‖q‖²/√hd, far above any other pair, and
with layer-normed inputs W_QᵀW_Q ≈ a multiple of the identity, so their scores follow the
inputs' similarity and spread wider than ``qk``'s: the tied model starts with half its
attention on the token itself and a lower entropy. A weights-only correction
(``Attention.start``: minus the expected excess) leaves the spread and the inputs'
correlation, and starts below ``qk`` on both.

So the start is set on data, once, before the first step (``calibrate``): on a fixed batch,
each head of a ``self_offset`` site gets the temperature (W_Q's rows scaled by √τ: scores ×τ)
and the score on oneself (the offset b) at which its attention on oneself and its entropy,
averaged over the batch's real queries, are those ``qk`` would have on the same batch with a
W_K drawn as ``qk`` draws it. Sites are set in the model's order (the encoder first), each on
the activations of the sites before it as set. The temperature is folded into W_Q (the
function class is unchanged); the offset is the variant's own learned score.
"""

import math

import torch

from attnablate.model.attention import Attention

# bisection steps of each search: τ to 1e-5 in log, b to 1e-4, far below the spread between
# batches
STEPS = 20
TEMPERATURES = (1e-2, 1e2)  # the range searched for τ
OFFSETS = (-60.0, 60.0)  # the range searched for b (scores are O(1) at the start)
DRAWS = 8  # draws of qk's W_K whose attention the start matches on average


def needs_calibration(model) -> bool:
    """Whether any site of the model has a score on oneself to start (``qq_centred``)."""
    return any(attn.self_offset is not None for _, _, attn in model.attention_modules())


@torch.no_grad()
def calibrate(model, *inputs, seed: int = 0) -> None:
    """Set every ``self_offset`` site's start on a batch (the model's ``inputs``), in place; the
    reference W_K is drawn from its own generator (``seed``), so the run's random stream is
    untouched and every process computes the same start."""
    was_training = model.training
    model.eval()  # no dropout: the start is a property of the weights and the batch
    generator = torch.Generator(device="cpu").manual_seed(seed)
    for site, layer, attn in list(model.attention_modules()):
        if attn.self_offset is None:
            continue
        x, visible = site_inputs(model, attn, (site, layer), *inputs)
        q = attn.split_heads(attn.q_proj(x), attn.n_heads)  # (B, H, T, hd)
        scale = 1 / math.sqrt(attn.head_dim)
        target = torch.stack(
            [
                attention_profile(q @ k.transpose(-2, -1) * scale, visible)
                for k in reference_keys(attn, x, generator)
            ]
        ).mean(0)  # (2, H): qk's, over several draws of its W_K
        tied = q @ q.transpose(-2, -1) * scale  # (B, H, T, T)
        tau, offset = fit(tied, visible, target)
        head_rows = attn.q_proj.weight.view(attn.n_heads, attn.head_dim, -1)  # (H, hd, C)
        head_rows.mul_(tau.sqrt()[:, None, None])
        if attn.q_proj.bias is not None:
            attn.q_proj.bias.view(attn.n_heads, attn.head_dim).mul_(tau.sqrt()[:, None])
        attn.self_offset.weight.copy_(offset)
    model.train(was_training)


def site_inputs(model, attn: Attention, key: tuple, *inputs):
    """The site's input x (B, T, C) on the batch (the model's ``inputs``), and which key each
    query sees (B, 1, T, T), read from the site's attention weights (its padding, causal and
    prefix masks)."""
    seen = {}

    def keep_input(module, args) -> None:
        seen["x"] = args[0]

    hook = attn.register_forward_pre_hook(keep_input)
    try:
        weights = model.attention_weights(*inputs)[key]  # (B, H, T, T)
    finally:
        hook.remove()
    return seen["x"], (weights[:, :1] > 0)


def reference_keys(attn: Attention, x, generator) -> list[torch.Tensor]:
    """``qk``'s keys of x (B, T, C), (B, Hkv, T, hd), under each of DRAWS W_K drawn as
    ``qk``'s are (xavier uniform, init_weights)."""
    rows, d_model = attn.kv_heads * attn.head_dim, x.size(-1)
    bound = math.sqrt(6 / (d_model + rows))
    draws = [(torch.rand(rows, d_model, generator=generator) * 2 - 1) * bound for _ in range(DRAWS)]
    return [attn.split_heads(x @ w.to(x).T, attn.kv_heads) for w in draws]


def attention_profile(scores, visible) -> torch.Tensor:
    """Per head: the mean attention of a real query on itself and the mean entropy of its
    weights, (2, H), over the queries that see themselves. scores: (B, H, T, T)."""
    weights = scores.masked_fill(~visible, float("-inf")).softmax(-1)  # (B, H, T, T)
    real = visible.diagonal(dim1=-2, dim2=-1).float()  # (B, 1, T)
    count = real.sum((0, 2))  # (1,)
    own = (weights.diagonal(dim1=-2, dim2=-1) * real).sum((0, 2)) / count  # (H,)
    entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1)  # (B, H, T)
    return torch.stack([own, (entropy * real).sum((0, 2)) / count])


def fit(tied, visible, target):
    """τ and b per head, (H,) each, such that softmax(τ·tied + b·I) has ``target``'s
    attention on oneself and entropy: b by bisection for each τ (attention on oneself grows
    with b), τ by bisection on the entropy (which falls as τ sharpens the scores)."""
    eye = torch.eye(tied.size(-1), dtype=tied.dtype)  # (T, T)
    heads = tied.size(1)

    def offset_for(tau):
        low, high = torch.full((heads,), OFFSETS[0]), torch.full((heads,), OFFSETS[1])
        for _ in range(STEPS):
            b = (low + high) / 2
            own = profile(tau, b)[0]
            low, high = torch.where(own < target[0], b, low), torch.where(own < target[0], high, b)
        return (low + high) / 2

    def profile(tau, b):
        scores = tied * tau.view(1, -1, 1, 1) + eye * b.view(1, -1, 1, 1)
        return attention_profile(scores, visible)

    low, high = (torch.full((heads,), math.log(t)) for t in TEMPERATURES)
    for _ in range(STEPS):
        log_tau = (low + high) / 2
        tau = log_tau.exp()
        entropy = profile(tau, offset_for(tau))[1]
        sharper = entropy < target[1]  # too sharp: lower the temperature
        low, high = torch.where(sharper, low, log_tau), torch.where(sharper, log_tau, high)
    tau = ((low + high) / 2).exp()
    return tau, offset_for(tau)
