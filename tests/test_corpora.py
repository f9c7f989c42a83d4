"""Tests for rnn_core.corpora (bundled corpora) and rnn_core.text.decode_upload (uploads)."""

import sysconfig

import numpy as np
import pytest

from rnn_core import corpora
from rnn_core.corpora import (
    CORPORA,
    arithmetic_floor_perplexity,
    arithmetic_text,
    list_corpora,
    load_corpus,
    load_python_source,
)
from rnn_core.ngram import best_baseline
from rnn_core.text import CorpusError, Vocab, decode_upload, split

KEYS = ["stories", "python", "arithmetic"]


# --- bundled corpora -----------------------------------------------------------------------

def test_registry_lists_the_three_corpora_in_display_order():
    assert [info.key for info in list_corpora()] == KEYS == list(CORPORA)
    for info in list_corpora():
        assert info.title and info.description and callable(info.loader)


@pytest.mark.parametrize("key", KEYS)
def test_each_corpus_loads_deterministically_and_encodes_with_its_own_vocab(key):
    text = load_corpus(key)
    assert isinstance(text, str) and len(text) > 20_000
    assert CORPORA[key].loader() == text  # a fresh load, not the cached string
    vocab = Vocab.from_text(text)
    assert 2 <= vocab.size <= 256
    assert vocab.decode(vocab.encode(text)) == text


def test_written_corpus_is_at_least_25_kb_of_plain_ascii():
    text = load_corpus("stories")
    assert len(text.encode("utf-8")) >= 25_000
    assert text.isascii() and "\r" not in text


def test_python_corpus_is_standard_library_source_in_printable_ascii():
    text = load_corpus("python")
    assert text.startswith("# file: textwrap.py\n")
    assert "def " in text and "import " in text
    assert 100_000 <= len(text) <= corpora.PYTHON_MAX_CHARS
    assert set(text) <= {"\n"} | {chr(c) for c in range(32, 127)}


def test_python_corpus_explains_itself_when_the_standard_library_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})
    with pytest.raises(CorpusError, match="none were found in .*choose another corpus"):
        load_python_source()


def test_unknown_corpus_key_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown corpus 'poems'; choose one of \['arithmetic'"):
        load_corpus("poems")


def test_arithmetic_lines_are_correct_sums_within_the_operand_range():
    text = arithmetic_text(n_lines=500, max_operand=19, seed=3)
    lines = text.splitlines()
    assert len(lines) == 500 and text.endswith("\n")
    for line in lines:
        left, answer = line.split("=")
        a, b = map(int, left.split("+"))
        assert 0 <= a <= 19 and 0 <= b <= 19 and a + b == int(answer)
    assert arithmetic_text(n_lines=500, seed=3) == text
    assert arithmetic_text(n_lines=500, seed=4) != text


def test_arithmetic_floor_is_one_for_a_single_possible_line_and_below_every_ngram():
    assert arithmetic_floor_perplexity(arithmetic_text(50, max_operand=0), 0) == 1.0
    text = load_corpus("arithmetic")
    floor = arithmetic_floor_perplexity(text)
    vocab = Vocab.from_text(text)
    train, val = split(vocab.encode(text))
    # the floor is a property of the generator; it is measured here on the whole text, so the
    # validation tail (1,000 lines) may differ slightly, but not by the gap to the n-grams
    assert 2.0 < floor < 2.3
    assert best_baseline(train, val, vocab.size).best_perplexity > floor + 0.5


# --- uploads -------------------------------------------------------------------------------

GOOD = ("The quick brown fox jumps over the lazy dog. " * 30).encode("utf-8")  # 1,350 characters


def test_good_upload_with_bom_and_crlf_newlines_is_normalised():
    data = b"\xef\xbb\xbf" + GOOD.replace(b". ", b".\r\n") + b"old mac\rline"
    text = decode_upload(data)
    assert not text.startswith("\ufeff") and "\r" not in text
    assert text == GOOD.decode().replace(". ", ".\n") + "old mac\nline"


def test_empty_upload_is_refused():
    with pytest.raises(CorpusError, match=r"^The file is empty\. Upload a plain-text"):
        decode_upload(b"")


def test_upload_over_the_limit_states_the_limit_in_megabytes():
    with pytest.raises(CorpusError, match=r"The file is 5\.0 MB; the limit is 5 MB\."):
        decode_upload(b"a" * 5_000_001)
    with pytest.raises(CorpusError, match=r"the limit is 0\.5 MB"):
        decode_upload(GOOD * 400, max_bytes=500_000)


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10,  # image: NUL bytes
    bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15]) * 20 + GOOD,  # control bytes, no NUL
])
def test_binary_upload_is_refused_as_not_plain_text(data):
    with pytest.raises(CorpusError, match=r"^This looks like a binary file.*Upload a \.txt file"):
        decode_upload(data)


def test_latin1_upload_is_refused_with_advice_to_save_as_utf8():
    data = ("Un caf\u00e9 cr\u00e8me, s'il vous pla\u00eet. " * 40).encode("latin-1")
    with pytest.raises(CorpusError, match=r"not UTF-8 text \(byte 6 .*save it with the UTF-8"):
        decode_upload(data)


def test_utf16_upload_is_refused_with_advice_to_save_as_utf8():
    with pytest.raises(CorpusError, match=r"saved as UTF-16, not UTF-8.*save it with the UTF-8"):
        decode_upload(GOOD.decode().encode("utf-16"))


def test_upload_of_only_a_byte_order_mark_is_refused_as_too_short():
    with pytest.raises(CorpusError, match=r"only 0 characters; at least 1,000"):
        decode_upload(b"\xef\xbb\xbf")


def test_too_short_upload_states_the_minimum():
    with pytest.raises(CorpusError, match=r"only 999 characters; at least 1,000 are needed"):
        decode_upload(b"ab" * 499 + b"a")


def test_upload_with_a_single_distinct_character_is_refused():
    with pytest.raises(CorpusError, match=r"only 1 distinct character; at least 2"):
        decode_upload(b"z" * 2000)


def test_upload_with_too_many_distinct_characters_explains_the_one_hot_limit():
    many = "".join(chr(0x4E00 + k) for k in range(300)) * 4  # 300 distinct CJK ideographs
    with pytest.raises(CorpusError, match=r"uses 300 distinct characters; the limit is 256, "
                                          r"because every character becomes a one-hot"):
        decode_upload(many.encode("utf-8"))


def test_upload_of_a_bundled_corpus_is_accepted_unchanged():
    text = load_corpus("stories")
    assert decode_upload(text.encode("utf-8")) == text
    assert np.array_equal(Vocab.from_text(text).encode(decode_upload(text.encode())),
                          Vocab.from_text(text).encode(text))


def test_upload_must_be_bytes():
    with pytest.raises(TypeError, match="data must be bytes"):
        decode_upload("already text")
