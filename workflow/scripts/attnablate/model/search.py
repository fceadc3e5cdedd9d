"""Batched beam search with the model's key/value cache (beam 1 is greedy decoding), for
either family: the encoder-decoder's steps (EagerStep, GraphedStep) read the encoded source,
the decoder-only model's (PrefixStep) continue its source prefix. Training's validation BLEU
and the translate step (evaluate/decode.py) both search with it."""

from dataclasses import dataclass

import numpy as np
import torch

from attnablate.data.batches import collate
from attnablate.data.tokenizer import BOS, EOS, PAD
from attnablate.model.transformer import DecoderOnlyTransformer, Transformer


@dataclass
class DecodeConfig:
    beam_size: int = 4  # hypotheses kept per sentence; 1 is greedy decoding
    length_penalty: float = 1.0  # hypotheses ranked by log-prob / length**length_penalty
    max_len_a: float = 1.5  # a hypothesis has at most a * source length + b tokens
    max_len_b: int = 10
    batch_sentences: int = 64  # sentences decoded together
    use_cache: bool = True  # False: recompute the whole prefix every step (benchmark reference)
    cuda_graph: bool = True  # on CUDA: static shapes, the decoder step replayed as a CUDA graph
    # False: every beam row carries a copy of its sentence's memory and cross-attention cache
    share_source: bool = True
    # (cuda_graph and share_source are no config keys: the same hypotheses either way; False
    # is the benchmark's reference)


@torch.no_grad()
def beam_search(model, src: torch.Tensor, cfg: DecodeConfig, stepper=None) -> list:
    """src: (B, S) ids ending in EOS, padded. Returns the best hypothesis of each sentence as
    token ids without BOS and EOS.

    Each step expands every live hypothesis, keeps the 2k best candidates per sentence, moves
    those ending in EOS (among the first k) to the finished list and continues with the k best
    others. A sentence is done when k hypotheses have finished or its length limit is reached
    (where EOS is forced); done sentences leave the search.

    ``stepper`` makes what computes the model's steps from the source: for an
    encoder-decoder EagerStep (a growing cache, done sentences leave the batch) or
    GraphedStep (every shape fixed: a CUDA graph), which give the same hypotheses; for a
    decoder-only model PrefixStep (stepper_for picks).
    """
    model.eval()
    k, V = cfg.beam_size, model.cfg.vocab_size
    src_len = src.ne(PAD).sum(1)  # (B,)
    limits = (src_len.float() * cfg.max_len_a + cfg.max_len_b).long().clamp(min=1)
    length = int(limits.max())
    step = (stepper or stepper_for(model, src.device, cfg))(model, src, length, cfg)
    B = src.size(0)
    tokens = torch.full((B * k, 1), BOS, dtype=torch.long, device=src.device)  # (B*k, 1)
    scores = torch.full((B, k), float("-inf"), device=src.device)  # (B, k) cumulative log-prob
    scores[:, 0] = 0.0  # one live hypothesis per sentence at the start
    alive = torch.arange(B, device=src.device)  # the sentence each block of k rows belongs to
    finished: list[list] = [[] for _ in range(B)]  # per sentence: (normalised score, ids)
    eos_only = only_eos(V, src.device)
    for t in range(length):
        n = len(alive)
        logp = step(tokens).view(n, k, V)  # (n, k, V) of the next token of every live row
        at_limit = t + 1 >= limits[alive]  # (n,): this token is the last one allowed
        top, beam, token = expand(logp, scores, at_limit, eos_only)  # (n, 2k) each
        ends = (token == EOS) & top.isfinite()
        finish(ends, alive.tolist(), tokens, top, beam, t, cfg, finished)
        full = [len(finished[i]) >= k for i in alive.tolist()]
        done = at_limit | torch.tensor(full, device=src.device)  # (n,)
        keep = (~done).nonzero().squeeze(1)  # (n',) sentences that go on
        if len(keep) == 0:
            break
        scores, pos = top.masked_fill(token == EOS, float("-inf"))[keep].topk(k, dim=1)  # (n', k)
        rows = (keep[:, None] * k + beam[keep].gather(1, pos)).view(-1)  # (n'*k,) parent rows
        tokens = torch.cat([tokens[rows], token[keep].gather(1, pos).view(-1, 1)], dim=1)
        step.follow(rows, keep)
        alive = alive[keep]
    return [max(hyps)[1] if hyps else [] for hyps in finished]


class EagerStep:
    """The decoder's steps on a growing cache (DecoderCache): the live rows' logits of the
    next token; done sentences leave the batch and the cache. The k rows of one sentence
    share its encoder output: memory, padding mask and the cross-attention cache hold one row
    per sentence, which the k queries read together, and are only re-selected when a
    sentence leaves; the self-attention cache follows each hypothesis to its parent row.
    Without ``cfg.use_cache`` every step decodes the whole prefix again (the benchmark's
    reference)."""

    def __init__(self, model: Transformer, src, length: int, cfg: DecodeConfig):
        k = cfg.beam_size
        memory, src_pad = model.encode(src)  # (B, S, C), (B, S)
        self.model, self.cfg, self.share = model, cfg, k if cfg.share_source else 1
        if not cfg.share_source:
            memory = memory.repeat_interleave(k, dim=0)  # (B*k, S, C)
            src_pad = src_pad.repeat_interleave(k, dim=0)  # (B*k, S)
        self.memory, self.src_pad = memory, src_pad
        self.cache = model.new_cache()
        self.sentences = src_pad.size(0) // self.share  # live sentences

    def __call__(self, tokens) -> torch.Tensor:
        """tokens: (n*k, t) every live row's prefix. Returns log-probabilities (n*k, V)."""
        if self.cfg.use_cache:
            logits = self.model.decode(
                tokens[:, -1:], self.memory, self.src_pad, self.cache, beam=self.share
            )
        else:
            logits = self.model.decode(tokens, self.memory, self.src_pad, beam=self.share)
        return logits[:, -1].float().log_softmax(-1)

    def follow(self, rows, keep) -> None:
        """Each live row continues from parent row ``rows`` (n'*k,) of the live rows before;
        ``keep`` (n',): the sentences that go on, among the live ones before."""
        shrunk = len(keep) < self.sentences
        self.sentences = len(keep)
        sources = (keep if self.cfg.share_source else rows) if shrunk else None  # memory rows
        self.cache.reorder(rows, sentences=sources)
        if shrunk:
            self.memory, self.src_pad = self.memory[sources], self.src_pad[sources]


class GraphedStep:
    """The decoder's steps on static buffers of every row (B*k) and position (StaticCache):
    reorder the self-attention caches to the parent rows, decode each row's token at the
    cache's position, advance it. A done sentence's rows run on, ignored, so that every step
    has the same shapes: on CUDA the step is captured once as a CUDA graph and replayed (one
    launch instead of hundreds: a small decoder step is launch-bound); elsewhere, and with
    ``capture=False``, it runs eagerly on the same buffers."""

    def __init__(self, model: Transformer, src, length: int, cfg: DecodeConfig, capture=True):
        k = cfg.beam_size
        memory, src_pad = model.encode(src)  # (B, S, C), (B, S)
        memory = memory.repeat_interleave(k, dim=0)  # (B*k, S, C)
        src_pad = src_pad.repeat_interleave(k, dim=0)  # (B*k, S)
        N, device = memory.size(0), memory.device
        self.model, self.memory, self.src_pad, self.k = model, memory, src_pad, k
        self.cache = model.new_static_cache(memory, src_pad, length)
        self.token = torch.full((N, 1), BOS, dtype=torch.long, device=device)  # (N, 1)
        self.rows = torch.arange(N, device=device)  # (N,) parent row of each row
        self.live = torch.arange(N, device=device)  # the rows of the sentences still searched
        self.graph, self.logp = None, None  # logp: the captured step's output buffer
        if capture and device.type == "cuda":
            self._capture()

    def _step(self) -> torch.Tensor:
        self.cache.reorder_self(self.rows)
        logits = self.model.decode(self.token, self.memory, self.src_pad, self.cache)[:, -1]
        return logits.float().log_softmax(-1)  # (N, V)

    def _capture(self) -> None:
        """Warm up on a side stream (allocations, kernel choices), put the buffers back as
        they were, then record one step."""
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        state = [self.token, self.rows, *self.cache.buffers()]
        saved = [t.clone() for t in state]
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        for tensor, value in zip(state, saved):
            tensor.copy_(value)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logp = self._step()

    def __call__(self, tokens) -> torch.Tensor:
        """tokens: (n*k, t) the live rows' prefixes. Returns their log-probabilities (n*k, V)."""
        self.token[self.live] = tokens[:, -1:]
        if self.graph is None:
            logp = self._step()
        else:
            self.graph.replay()
            logp = self.logp
        # the caches have followed the parents: until the next follow, each row keeps its own
        self.rows.copy_(torch.arange(len(self.rows), device=self.rows.device))
        return logp[self.live]  # (n*k, V), a copy: the search edits it in place

    def follow(self, rows, keep) -> None:
        """The live rows continue from parent rows ``rows`` (n'*k,) of the live rows before;
        every other row keeps its own."""
        parents = self.live[rows]  # (n'*k,) buffer rows
        sentences = self.live.view(-1, self.k)[keep, 0] // self.k  # (n',)
        self.live = (sentences[:, None] * self.k + torch.arange(self.k, device=rows.device)).view(
            -1
        )
        self.rows[self.live] = parents


class PrefixStep:
    """A decoder-only model's steps: the source prefix run once into a PrefixCache of every
    beam row (B*k), then one target token per step; rows follow their parents and done
    sentences leave, as in EagerStep. Without ``cfg.use_cache`` every step runs the whole
    source and target prefix again (the reference the cache is tested against)."""

    def __init__(self, model: DecoderOnlyTransformer, src, length: int, cfg: DecodeConfig):
        self.model, self.cfg = model, cfg
        self.src = src.repeat_interleave(cfg.beam_size, dim=0)  # (B*k, S)
        self.cache = model.prefill(self.src) if cfg.use_cache else None

    def __call__(self, tokens) -> torch.Tensor:
        """tokens: (n*k, t) every live row's target so far. Returns log-probabilities (n*k, V)."""
        if self.cache is not None:
            logits = self.model.decode(tokens[:, -1:], self.cache)
        else:
            logits = self.model(self.src, tokens)
        return logits[:, -1].float().log_softmax(-1)

    def follow(self, rows, keep) -> None:
        """Each live row continues from parent row ``rows`` (n'*k,) of the live rows before."""
        if self.cache is not None:
            self.cache.reorder(rows)
        self.src = self.src[rows]


def stepper_for(model, device, cfg: DecodeConfig):
    """The step a model's search takes: the decoder-only model's PrefixStep; an
    encoder-decoder's GraphedStep on CUDA (with the cache and cfg.cuda_graph), else EagerStep."""
    if isinstance(model, DecoderOnlyTransformer):
        return PrefixStep
    static = cfg.cuda_graph and cfg.use_cache and device.type == "cuda"
    return GraphedStep if static else EagerStep


def only_eos(vocab_size: int, device) -> torch.Tensor:
    """(V,): 0 at EOS, -inf elsewhere: added where a hypothesis must end."""
    mask = torch.full((vocab_size,), float("-inf"), device=device)
    mask[EOS] = 0.0
    return mask


def expand(logp, scores, at_limit, eos_only):
    """One step of every sentence's beam: logp (n, k, V) of the next token, scores (n, k)
    so far, at_limit (n,) where this token is the last allowed, eos_only from only_eos.
    Returns the 2k best candidates per sentence: scores, parent beams, tokens, each (n, 2k).

    A sentence's 2k best continuations are among the 2k best tokens of each of its beams, so
    the beams' scores are added to those alone, not to the whole vocabulary."""
    n, k, V = logp.shape
    logp[:, :, PAD] = float("-inf")
    logp[:, :, BOS] = float("-inf")
    logp[at_limit] += eos_only  # only EOS may follow; its own log-prob still counts
    m = min(2 * k, V)
    best, tokens = logp.topk(m, dim=-1)  # (n, k, m) each: every beam's best tokens
    candidates = (scores.unsqueeze(-1) + best).view(n, k * m)  # (n, k*m)
    top, index = candidates.topk(2 * k, dim=1)  # (n, 2k)
    return top, index // m, tokens.view(n, k * m).gather(1, index)


def finish(ends, sentences: list, tokens, top, beam, t: int, cfg, finished: list) -> None:
    """Move the candidates that end in EOS among each sentence's first k (``ends``, (n, 2k))
    to ``finished`` of their sentence (``sentences``: row r's index), length-normalised."""
    k = cfg.beam_size
    for r, c in ends[:, :k].nonzero().tolist():
        hypothesis = tokens[r * k + beam[r, c], 1:].tolist()
        score = top[r, c].item() / (t + 1) ** cfg.length_penalty
        finished[sentences[r]].append((score, hypothesis))


def translate(model, sentences: list, cfg: DecodeConfig, device="cpu") -> list:
    """Decode every sentence (arrays of source ids, without EOS); results in input order.
    Sentences are decoded in batches of similar length, so little compute goes to padding."""
    order = np.argsort([len(s) for s in sentences], kind="stable")
    results: list = [None] * len(sentences)
    for start in range(0, len(order), cfg.batch_sentences):
        chunk = order[start : start + cfg.batch_sentences]
        src, _, _ = collate([sentences[i] for i in chunk], [np.zeros(0, np.int64)] * len(chunk))
        src = src.to(device)
        hyps = beam_search(model, src, cfg)
        for i, hypothesis in zip(chunk, hyps):
            results[i] = hypothesis
    return results
