"""Text for the character model: vocabulary, train/validation split, truncated-BPTT batches,
upload checks, and temperature sampling.

Symbols: N characters in a text, V characters in the vocabulary, B parallel streams (batch),
T time steps per window, L positions per stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import numpy as np

from .losses import softmax

MAX_UPLOAD_BYTES = 5_000_000
MIN_TEXT_CHARS = 1_000
MIN_DISTINCT_CHARS = 2
MAX_DISTINCT_CHARS = 256
MAX_CONTROL_SHARE = 0.01  # real text has almost no control bytes besides \t \n \r \f


class CorpusError(ValueError):
    """A text that cannot be used for training; the message is written for the student."""


def _codepoints(text: str) -> np.ndarray:
    """Unicode code points of `text` as a (N,) uint32 array, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


@dataclass(frozen=True)
class Vocab:
    """The characters a model knows; id k stands for `chars[k]`.

    Parameters
    ----------
    chars : str
        The V distinct characters, in id order. Stored as is in checkpoints.
    """

    chars: str
    _sorted_codes: np.ndarray = field(init=False, repr=False, compare=False)
    _order: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.chars, str) or not self.chars:
            raise ValueError(f"chars must be a non-empty str; got {self.chars!r}")
        if len(set(self.chars)) != len(self.chars):
            repeated = sorted({c for c in self.chars if self.chars.count(c) > 1})
            raise ValueError(f"chars must not repeat a character; repeated: {repeated!r}")
        codes = _codepoints(self.chars)
        order = np.argsort(codes, kind="stable")
        # frozen: the lookup tables are set once here and never change
        object.__setattr__(self, "_sorted_codes", codes[order])
        object.__setattr__(self, "_order", order.astype(np.int32))

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        """Vocabulary of the sorted distinct characters of `text`."""
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty str to build a vocabulary")
        return cls("".join(sorted(set(text))))

    @classmethod
    def from_chars(cls, chars: str) -> "Vocab":
        """Vocabulary with exactly these characters in this order (e.g. from a checkpoint)."""
        return cls(chars)

    @property
    def size(self) -> int:
        """V, the number of characters."""
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Character ids of `text`.

        Returns
        -------
        ids : (N,) int32

        Raises
        ------
        ValueError
            Naming the first character that is not in the vocabulary and its position.
        """
        if not isinstance(text, str):
            raise ValueError(f"text must be a str; got {type(text).__name__}")
        codes = _codepoints(text)
        pos = np.searchsorted(self._sorted_codes, codes)
        pos = np.minimum(pos, len(self._sorted_codes) - 1)
        unknown = np.flatnonzero(self._sorted_codes[pos] != codes)
        if unknown.size:
            k = int(unknown[0])
            raise ValueError(
                f"character {text[k]!r} at position {k} is not in the vocabulary "
                f"({unknown.size} unknown character(s) in total)"
            )
        return self._order[pos]

    def decode(self, ids) -> str:
        """Text of a sequence of ids, each in [0, V)."""
        ids = np.asarray(ids)
        if ids.ndim == 1 and ids.size == 0:
            return ""
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be a 1-D sequence of integers; got shape {ids.shape}, "
                             f"dtype {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.size:
            raise ValueError(f"ids must be in [0, {self.size}); got values from {ids.min()} "
                             f"to {ids.max()}")
        codes = _codepoints(self.chars)[ids]
        return codes.astype("<u4").tobytes().decode("utf-32-le")


def split(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split a text into a training head and a validation tail, both contiguous.

    Parameters
    ----------
    ids : (N,) int
    val_fraction : float in (0, 1)
        Share of the characters kept for validation (rounded).

    Returns
    -------
    train_ids : (N - N_val,) int
    val_ids : (N_val,) int
        Each part has at least 2 characters (an input and its target).
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D (N,); got shape {ids.shape}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1); got {val_fraction}")
    n = len(ids)
    n_val = int(round(n * val_fraction))
    if n_val < 2 or n - n_val < 2:
        raise ValueError(
            f"text of {n} characters is too short to split with val_fraction={val_fraction}: "
            f"training and validation need at least 2 characters each"
        )
    return ids[: n - n_val], ids[n - n_val:]


class Batch(NamedTuple):
    """One window of truncated BPTT.

    X, Y : (T, B) int32 inputs and targets (Y is X shifted by one character).
    epoch : int, index : int   which window this is (index in [0, windows_per_epoch)).
    new_epoch : bool   True for index 0: the streams restart, so the carried state must be reset.
    """

    X: np.ndarray
    Y: np.ndarray
    epoch: int
    index: int
    new_epoch: bool


class BatchStream:
    """Cut a text into B contiguous streams and walk them in windows of T steps.

    Stream r holds inputs ids[r*L : (r+1)*L] and targets ids[r*L+1 : (r+1)*L+1], with
    L = (N - 1) // B, so every target is the character that follows its input. Window k
    takes columns k*T : (k+1)*T of every stream; window k+1 continues exactly where window k
    ended, so the hidden state at the end of one window is the right initial state for the
    next. The last L mod T positions of each stream are not used.

    Parameters
    ----------
    ids : (N,) int
    batch_size : int
        B.
    seq_len : int
        T.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int):
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"ids must be 1-D (N,); got shape {ids.shape}")
        for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        stream_len = (len(ids) - 1) // batch_size
        if stream_len < seq_len:
            raise ValueError(
                f"the training text is too short for batch_size={batch_size} and "
                f"seq_len={seq_len}: it needs at least {batch_size * seq_len + 1} characters; "
                f"got {len(ids)}. Lower the batch size or the sequence length."
            )
        used = batch_size * stream_len
        self.batch_size = int(batch_size)
        self.seq_len = int(seq_len)
        self.inputs = ids[:used].astype(np.int32).reshape(batch_size, stream_len)  # (B, L)
        self.targets = ids[1: used + 1].astype(np.int32).reshape(batch_size, stream_len)  # (B, L)
        self.windows_per_epoch = stream_len // seq_len
        self.epoch = 0
        self.index = 0

    @property
    def tokens_per_window(self) -> int:
        """B * T, the characters predicted in one window."""
        return self.batch_size * self.seq_len

    def window(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets of window k, each (T, B) int32 (time-major, fresh copies)."""
        if not 0 <= k < self.windows_per_epoch:
            raise ValueError(f"window index must be in [0, {self.windows_per_epoch}); got {k}")
        cols = slice(k * self.seq_len, (k + 1) * self.seq_len)
        X = np.ascontiguousarray(self.inputs[:, cols].T)  # (T, B)
        Y = np.ascontiguousarray(self.targets[:, cols].T)  # (T, B)
        return X, Y

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Batch:
        """The next window; after the last one of an epoch, start the next epoch (never ends)."""
        X, Y = self.window(self.index)
        batch = Batch(X, Y, self.epoch, self.index, self.index == 0)
        self.index += 1
        if self.index == self.windows_per_epoch:
            self.epoch, self.index = self.epoch + 1, 0
        return batch


def windows(ids: np.ndarray, batch_size: int,
            seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The (X, Y) windows of one epoch, each (T, B) int32; see `BatchStream`."""
    stream = BatchStream(ids, batch_size, seq_len)
    for k in range(stream.windows_per_epoch):
        yield stream.window(k)


def _looks_binary(data: bytes) -> bool:
    """True if `data` has a NUL byte, or control bytes other than tab, newline, form feed and
    carriage return make up more than MAX_CONTROL_SHARE of it."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size == 0:
        return False
    if np.any(raw == 0):
        return True
    control = ((raw < 32) & ~np.isin(raw, (9, 10, 12, 13))) | (raw == 127)
    return control.mean() > MAX_CONTROL_SHARE


def decode_upload(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> str:
    """Check an uploaded file and return its text, with \\n newlines and no byte-order mark.

    Parameters
    ----------
    data : bytes
        The file's content.
    max_bytes : int
        Size limit.

    Raises
    ------
    CorpusError
        With a message for the student: empty, too large, binary, not UTF-8, too short,
        too few or too many distinct characters.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise CorpusError("The file is empty. Upload a plain-text (.txt) file with at least "
                          f"{MIN_TEXT_CHARS:,} characters.")
    if len(data) > max_bytes:
        raise CorpusError(f"The file is {len(data) / 1e6:.1f} MB; the limit is "
                          f"{max_bytes / 1e6:g} MB. Upload a shorter excerpt: a few hundred KB "
                          "is plenty for a character model.")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise CorpusError("The file is saved as UTF-16, not UTF-8. Open it in a text editor, "
                          "save it with the UTF-8 encoding, and upload it again.")
    data = data.removeprefix(b"\xef\xbb\xbf")
    if _looks_binary(data):
        raise CorpusError("This looks like a binary file (a document, image or program), not "
                          "plain text. Upload a .txt file; a PDF or Word document must first be "
                          "saved as plain text.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(f"The file is not UTF-8 text (byte {err.start} cannot be read as "
                          "UTF-8; it may be Latin-1 or Windows-1252). Open it in a text editor, "
                          "save it with the UTF-8 encoding, and upload it again.") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) < MIN_TEXT_CHARS:
        raise CorpusError(f"The text has only {len(text):,} characters; at least "
                          f"{MIN_TEXT_CHARS:,} are needed to train on and to keep a part for "
                          "validation.")
    distinct = len(set(text))
    if distinct < MIN_DISTINCT_CHARS:
        raise CorpusError(f"The text uses only {distinct} distinct character; at least "
                          f"{MIN_DISTINCT_CHARS} are needed for there to be anything to predict.")
    if distinct > MAX_DISTINCT_CHARS:
        raise CorpusError(f"The text uses {distinct:,} distinct characters; the limit is "
                          f"{MAX_DISTINCT_CHARS}, because every character becomes a one-hot "
                          "input vector and a softmax output of that length. Use a text in one "
                          "alphabet, or remove rare symbols.")
    return text


def softmax_with_temperature(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Next-character probabilities softmax(logits / temperature).

    Temperature below 1 sharpens the distribution, above 1 flattens it; temperature 0 is
    greedy decoding: all the mass on the largest logit (the first one on a tie).

    Parameters
    ----------
    logits : (..., V) float
    temperature : float >= 0

    Returns
    -------
    probs : (..., V) float64, each row sums to 1
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits must be (..., V) with V >= 1; got shape {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("logits must be finite; got NaN or inf")
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be >= 0; got {temperature}")
    if temperature == 0:
        best = np.argmax(logits, axis=-1)
        return (np.arange(logits.shape[-1]) == best[..., None]).astype(np.float64)
    return softmax(logits / temperature)


def sample_from_probs(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray | int:
    """Draw one index per row of `probs`.

    Parameters
    ----------
    probs : (V,) or (B, V) float, non-negative, rows summing to 1
    rng : np.random.Generator

    Returns
    -------
    int for (V,) input, (B,) int64 for (B, V) input
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim not in (1, 2) or probs.shape[-1] == 0:
        raise ValueError(f"probs must be (V,) or (B, V); got shape {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError("probs must be finite and non-negative")
    totals = probs.sum(axis=-1)
    if not np.allclose(totals, 1.0, rtol=0, atol=1e-6):
        raise ValueError(f"each row of probs must sum to 1; got sums {totals}")
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[:-1]) * cdf[..., -1]
    # the first index whose cumulative probability exceeds u; zero-probability entries are skipped
    idx = np.minimum((u[..., None] >= cdf).sum(axis=-1), probs.shape[-1] - 1)
    return int(idx) if probs.ndim == 1 else idx


def sample(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray | int:
    """Sample next-character ids from logits (..., V) at a temperature; 0 is greedy."""
    return sample_from_probs(softmax_with_temperature(logits, temperature), rng)
