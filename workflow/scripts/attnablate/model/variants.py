"""The attention variants of the study, as data.

A variant is a set of structural choices about the four projections of one attention site
(``AttentionSpec``). The registry ``VARIANTS`` maps each name to the choices it makes; the
model builds its modules from a spec and never asks which variant it is.

An experiment names a variant per site with a spec string::

    qk                  the baseline everywhere
    qq@enc              W_K = W_Q in encoder self-attention only (the original experiment)
    qq+noo@enc,dec      two variants composed, at two sites
    qq@all              every site: enc, dec and cross
    qq@enc;nov@dec      different variants at different sites

Sites: ``enc`` (encoder self-attention), ``dec`` (decoder self-attention), ``cross``
(decoder-to-encoder attention) in an encoder-decoder model; ``self`` in a decoder-only one (one
stack over the source and the target). Sites a spec does not name keep the baseline ``qk``.
"""

import re
from dataclasses import dataclass

from attnablate.errors import ConfigurationError

BASELINE = "qk"  # the variant every other is compared with
# the attention sites of each model family; ``all`` in a spec means its family's
FAMILY_SITES = {
    "encoder_decoder": ("enc", "dec", "cross"),
    "decoder_only": ("self",),
    "encoder_only": ("self",),
}
SITES = FAMILY_SITES["encoder_decoder"]  # the default family's
SELF_ATTENTION_SITES = ("enc", "dec", "self")


@dataclass(frozen=True)
class AttentionSpec:
    """How one attention site builds its projections. The defaults are the baseline ``qk``."""

    # "linear": a learned matrix; "identity": the input itself; "random": a fixed random
    # matrix with orthonormal rows, drawn at initialisation and never trained
    query: str = "linear"  # W_Q: "linear", "identity" or "random"
    key: str = "linear"  # "linear": own W_K; "query": W_K is W_Q; "value": W_K is W_V
    value: str = "linear"  # W_V: "linear", "identity" or "random"
    output: str = "linear"  # W_O: "linear", "identity" (heads concatenated, not mixed), "random"
    kv_heads: int | None = None  # None: one key/value head per query head; G: G shared heads
    key_diagonal: bool = False  # keys are D·q with a learned diagonal D (scores Q D Qᵀ)
    key_l2norm: bool = False  # keys scaled to unit length per head (Reformer's shared-QK)
    self_mask: bool = False  # a position attends to itself only if it has no other target
    # the controls for what tied keys impose at initialisation (docs/method.md: the controls):
    # "own": W_K is drawn on its own; "query": W_K starts as a copy of W_Q, then trains freely
    key_init: str = "own"
    # a learned score per head added where a position meets itself; a run starts it, with
    # the head's temperature, where qk's attention starts (model/calibrate.py)
    self_offset: bool = False

    @property
    def symmetric_form(self) -> bool:
        """Whether the bilinear form W_Qᵀ W_K is symmetric by construction (keys tied to
        queries: ``qq``, ``qq_selfmask``, ``qdq``), before any training."""
        return self.key == "query"


# name -> the AttentionSpec fields it sets. `gqa{G}` is a family and is parsed separately.
VARIANTS: dict[str, dict] = {
    "qk": {},
    "qq": {"key": "query"},
    "qq_selfmask": {"key": "query", "key_l2norm": True, "self_mask": True},
    "qdq": {"key": "query", "key_diagonal": True},
    "qq_centred": {"key": "query", "self_offset": True},
    "qk_symstart": {"key_init": "query"},
    "iq": {"query": "identity"},
    "kv": {"key": "value"},
    "nov": {"value": "identity"},
    "noo": {"output": "identity"},
    "rq": {"query": "random"},
    "rv": {"value": "random"},
    "ro": {"output": "random"},
    "mqa": {"kv_heads": 1},
}

# One line per variant, for the reports (each summary says what its variants do).
DESCRIPTIONS: dict[str, str] = {
    "qk": "baseline: separate W_Q, W_K, W_V, W_O",
    "qq": "W_K is W_Q: self-attention scores QQᵀ are symmetric",
    "qq_selfmask": "qq with unit-length keys and no attention to oneself (Reformer's shared-QK)",
    "qdq": "qq with a learned diagonal D: scores Q D Qᵀ, symmetric but indefinite",
    "qq_centred": "qq without its start bias: a learned per-head score on attention to "
    "oneself and a temperature per head, started on data where qk's attention starts "
    "(attention on oneself and entropy)",
    "qk_symstart": "qk started symmetric: W_K starts as a copy of W_Q, then trains freely "
    "(qq's start without its constraint)",
    "iq": "W_Q is the identity: saves what qq saves, stays asymmetric, but head h's query is "
    "fixed to coordinates h·hd..(h+1)·hd of the input in every layer",
    "kv": "W_K is W_V",
    "nov": "W_V is the identity: head h moves only coordinates h·hd..(h+1)·hd",
    "noo": "W_O is the identity: heads are concatenated, not mixed",
    "rq": "W_Q is a fixed random orthogonal matrix: the control for iq without its fixed "
    "coordinate blocks",
    "rv": "W_V is a fixed random orthogonal matrix: the control for nov",
    "ro": "W_O is a fixed random orthogonal matrix: the control for noo",
    "mqa": "one key/value head shared by all query heads",
    "gqa{G}": "G key/value heads, each shared by a group of query heads",
}

# control -> (the variant it controls for, what it keeps of it, what variant − control
# measures, named without a direction: its sign says gain or loss): the summary sets each
# control beside that variant at the same sites
CONTROLS: dict[str, tuple[str, str, str]] = {
    "qk_symstart": ("qq", "qq's start without its constraint", "the constraint's part"),
    "qq_centred": ("qq", "qq's constraint without its start bias", "the start bias's part"),
    "qq_selfmask": (
        "qq",
        "qq's constraint with unit keys and no attention to oneself",
        "the part of attention to oneself (and key length)",
    ),
    "rq": ("iq", "no learned W_Q, without iq's fixed coordinate blocks", "the blocks' part"),
    "rv": ("nov", "no learned W_V, without nov's fixed coordinate blocks", "the blocks' part"),
    "ro": ("noo", "no learned W_O, without noo's unmixed heads", "the unmixed heads' part"),
}

_GQA = re.compile(r"gqa([1-9][0-9]*)")


def describe(name: str) -> str:
    """The description of one registered name (``gqa4`` included)."""
    if _GQA.fullmatch(name):
        return DESCRIPTIONS["gqa{G}"].replace("G ", f"{name[3:]} ", 1)
    return DESCRIPTIONS[name]


def allowed_names() -> str:
    return ", ".join([*VARIANTS, "gqa{G}"])


def component_fields(name: str, key: str) -> dict:
    """The AttentionSpec fields one registered name sets (``gqa4`` -> kv_heads=4)."""
    if name in VARIANTS:
        return VARIANTS[name]
    match = _GQA.fullmatch(name)
    if match:
        return {"kv_heads": int(match.group(1))}
    raise ConfigurationError(key, f"unknown variant {name!r}; allowed: {allowed_names()}")


def build_spec(combo: str, key: str = "variant") -> AttentionSpec:
    """Compose ``a+b+...`` into one AttentionSpec; two names may not set one field differently."""
    fields: dict = {}
    setter: dict[str, str] = {}  # field -> the name that set it, for the conflict message
    for name in combo.split("+"):
        for field, value in component_fields(name.strip(), key).items():
            if field in fields and fields[field] != value:
                raise ConfigurationError(
                    key,
                    f"{setter[field]!r} and {name!r} cannot be combined in {combo!r}: "
                    f"both set {field} ({fields[field]!r} vs {value!r})",
                )
            fields[field] = value
            setter[field] = name
    return AttentionSpec(**fields)


def check_spec(spec: AttentionSpec, site: str, n_heads: int, key: str = "variant") -> None:
    """Raise ConfigurationError if ``spec`` cannot be built at ``site`` with ``n_heads`` heads."""
    kv_heads = spec.kv_heads or n_heads
    if n_heads % kv_heads != 0:
        raise ConfigurationError(
            key, f"{kv_heads} key/value heads (gqa groups) must divide n_heads={n_heads}"
        )
    if kv_heads != n_heads and spec.key == "query":
        raise ConfigurationError(
            key,
            "keys tied to queries (qq, qq_selfmask, qdq) need one key head per query head; "
            "they cannot be combined with mqa or gqa{G}",
        )
    if kv_heads != n_heads and spec.value == "identity":
        raise ConfigurationError(
            key, "identity values (nov) keep all heads; they cannot be combined with mqa or gqa{G}"
        )
    if spec.key_init == "query" and (spec.key != "linear" or spec.query != "linear"):
        raise ConfigurationError(
            key, "qk_symstart copies a learned W_Q into a learned W_K: both must be linear"
        )
    if spec.self_offset and (spec.key != "query" or spec.query != "linear"):
        raise ConfigurationError(
            key, "qq_centred removes the start bias of keys tied to a learned W_Q: it needs both"
        )
    if spec.self_offset and site not in SELF_ATTENTION_SITES:
        raise ConfigurationError(
            key,
            f"qq_centred offsets a position's score with itself, which exists only in "
            f"self-attention; allowed sites: {', '.join(SELF_ATTENTION_SITES)}",
        )
    if spec.self_mask and site not in SELF_ATTENTION_SITES:
        raise ConfigurationError(
            key,
            f"qq_selfmask masks a position's attention to itself, which exists only in "
            f"self-attention; allowed sites: {', '.join(SELF_ATTENTION_SITES)}",
        )


def parse_sites(spec: str, key: str = "variant", family: str = "encoder_decoder") -> dict[str, str]:
    """Map every site of the model ``family`` to its variant combination: ``"qq@enc"`` ->
    enc=qq, dec=qk, cross=qk."""
    if not spec or not spec.strip():
        raise ConfigurationError(key, "empty variant spec; e.g. 'qk', 'qq@enc', 'qq+noo@all'")
    own = FAMILY_SITES[family]
    sites = dict.fromkeys(own, BASELINE)
    assigned: set[str] = set()
    for term in spec.split(";"):
        combo, _, where = term.strip().partition("@")
        build_spec(combo, key)  # fail early on unknown names and conflicts
        names = own if where in ("", "all") else [s.strip() for s in where.split(",")]
        for site in names:
            if site not in own:
                other = next((f for f, s in FAMILY_SITES.items() if site in s), None)
                what = f"a site of the {other} model" if other else "unknown site"
                raise ConfigurationError(
                    key,
                    f"{what} {site!r} in {spec!r}; the {family} model's sites: "
                    f"{', '.join(own)}, all",
                )
            if site in assigned:
                raise ConfigurationError(key, f"site {site!r} is given twice in {spec!r}")
            assigned.add(site)
            sites[site] = combo.strip()
    return sites


def site_specs(
    spec: str, n_heads: int, key: str = "variant", family: str = "encoder_decoder"
) -> dict[str, AttentionSpec]:
    """The AttentionSpec of every site of the model ``family``, checked against its head
    count."""
    specs = {}
    for site, combo in parse_sites(spec, key, family).items():
        specs[site] = build_spec(combo, key)
        check_spec(specs[site], site, n_heads, key)
    return specs


def cell_label(variant: str, match: str) -> str:
    """How tables, figures and sentences name a cell: the variant, with its matching in
    brackets where it has one (``qq@enc (matched: total)``)."""
    return variant if match == "none" else f"{variant} (matched: {match})"
