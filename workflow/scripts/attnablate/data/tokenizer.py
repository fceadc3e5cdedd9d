"""One joint sentencepiece model for both languages, and the compact id files of every split.

Joint, so that one embedding matrix serves source, target and the output layer. Trained on
the train split only. The ids of a split are encoded once and shared by every run.
"""

import os
import re
from pathlib import Path

import numpy as np
import sentencepiece as spm

from attnablate.errors import ConfigurationError
from attnablate.io import temporary, write_npz

# Fixed special ids: the model's pad_id is 0, decoding starts at BOS and ends at EOS.
PAD, UNK, BOS, EOS = 0, 1, 2, 3


def train_tokenizer(train_files: list, model_path, vocab_size: int, model_type: str) -> None:
    """Train sentencepiece on ``train_files`` and write ``model_path`` (a ``.model`` file)."""
    model_path = Path(model_path)
    prefix = str(temporary(model_path.with_suffix("")))  # written whole, then renamed
    try:
        _train(train_files, prefix, vocab_size, model_type)
    except RuntimeError as error:
        needed = re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(error))
        if not needed:
            raise
        raise ConfigurationError(
            "tokenizer.vocab_size",
            f"{vocab_size} is fewer pieces than the training split has characters and special "
            f"pieces ({needed.group(1)}, every character being kept): give at least that",
        ) from None
    except BaseException:
        for written in (f"{prefix}.model", f"{prefix}.vocab"):
            Path(written).unlink(missing_ok=True)
        raise
    os.replace(f"{prefix}.vocab", model_path.with_suffix(".vocab"))  # the pieces, readable
    os.replace(f"{prefix}.model", model_path)  # last: the model is what marks the step done


def _train(train_files: list, prefix: str, vocab_size: int, model_type: str) -> None:
    spm.SentencePieceTrainer.train(
        input=[str(f) for f in train_files],
        model_prefix=prefix,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=1.0,  # four Latin-script languages: keep every character
        pad_id=PAD,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        hard_vocab_limit=False,  # a small corpus may not support the full size: take fewer
        num_threads=1,  # one thread: the same model on every run
        minloglevel=1,
    )


def encode_file(sp: spm.SentencePieceProcessor, path) -> tuple[np.ndarray, np.ndarray]:
    """Ids of every line, flat, and the offsets where each line starts (len = lines + 1)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    pieces = sp.encode(lines)
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.fromiter((i for p in pieces for i in p), dtype=np.int32, count=int(offsets[-1]))
    return flat, offsets


def encode_split(model_path, src_path, tgt_path, out_path) -> dict:
    """Write ``{src,tgt}_{ids,offsets}`` to one ``.npz``; return token counts for the log."""
    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    src_ids, src_offsets = encode_file(sp, src_path)
    tgt_ids, tgt_offsets = encode_file(sp, tgt_path)
    dtype = np.uint16 if sp.get_piece_size() <= np.iinfo(np.uint16).max else np.int32
    write_npz(
        out_path,
        src_ids=src_ids.astype(dtype),
        src_offsets=src_offsets,
        tgt_ids=tgt_ids.astype(dtype),
        tgt_offsets=tgt_offsets,
    )
    return {
        "segments": len(src_offsets) - 1,
        "src_tokens": len(src_ids),
        "tgt_tokens": len(tgt_ids),
    }


def vocabulary_size(model_path) -> int:
    """The tokenizer's real vocabulary: what models are built with (sentencepiece may give
    fewer pieces than asked for on a small corpus)."""
    return spm.SentencePieceProcessor(model_file=str(model_path)).get_piece_size()


def load_split(path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The id sequences of a split: (source sentences, target sentences)."""
    with np.load(path) as data:
        sides = []
        for side in ("src", "tgt"):
            ids, offsets = data[f"{side}_ids"].astype(np.int64), data[f"{side}_offsets"]
            sides.append([ids[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)])
    return sides[0], sides[1]


def run_tokenizer(tokenizer: dict, train_files: list, model_path) -> None:
    """The ``tokenizer`` settings' sentencepiece model of ``train_files``, to ``model_path``."""
    train_tokenizer(train_files, model_path, tokenizer["vocab_size"], tokenizer["model_type"])
    size = vocabulary_size(model_path)
    print(f"sentencepiece {tokenizer['model_type']} model with {size} pieces: {model_path}")


def run_encode(model_path, src, tgt, out) -> None:
    """One split's ``src`` and ``tgt`` text files as ids (``out``, .npz)."""
    print(f"{out}: {encode_split(model_path, src, tgt, out)}")
