"""Bundled corpora for the Char-RNN page; nothing is downloaded.

- "stories": a miscellany written for RNN Lab (ship's log, recipes, verse, dialogue, a bestiary),
  stored in assets/corpora/stories.txt.
- "python": source files of the running Python's standard library, read at run time.
- "arithmetic": lines such as "12+7=19", generated from a fixed seed.
"""

from __future__ import annotations

import functools
import sysconfig
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from .text import CorpusError

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "corpora"

# Small, stable, mostly-ASCII modules in a fixed order; a file missing in some version is skipped.
PYTHON_MODULES = (
    "textwrap.py", "string.py", "json/__init__.py", "json/decoder.py", "json/encoder.py",
    "json/scanner.py", "bisect.py", "heapq.py", "fnmatch.py", "colorsys.py", "glob.py",
    "queue.py", "sched.py", "graphlib.py", "copy.py", "reprlib.py", "operator.py",
    "contextlib.py", "functools.py", "pprint.py", "random.py", "fractions.py",
)
PYTHON_MAX_CHARS = 250_000

ARITHMETIC_LINES = 10_000
ARITHMETIC_MAX_OPERAND = 19
ARITHMETIC_SEED = 0


class CorpusInfo(NamedTuple):
    """A bundled corpus: registry key, title and description for the page, and its loader."""

    key: str
    title: str
    description: str
    loader: Callable[[], str]


def load_stories() -> str:
    """The Lantern Almanac, about 40 KB of original English text written for RNN Lab."""
    path = ASSETS / "stories.txt"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise CorpusError(f"The bundled corpus file {path} could not be read ({err.strerror}). "
                          "Reinstall RNN Lab or choose another corpus.") from None


def load_python_source(max_chars: int = PYTHON_MAX_CHARS) -> str:
    """Concatenated standard-library modules, each preceded by a `# file: <path>` line.

    Whole files are added in the order of PYTHON_MODULES until the next one would pass
    `max_chars`. Characters outside printable ASCII become "?", so the vocabulary stays near
    100 characters whatever the Python version.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts, total = [], 0
    for name in PYTHON_MODULES:
        try:
            source = (stdlib / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        part = f"# file: {name}\n{source.rstrip()}\n\n"
        if parts and total + len(part) > max_chars:
            break
        parts.append(part)
        total += len(part)
    if not parts:
        raise CorpusError(f"The Python corpus reads the standard library's source files, but "
                          f"none were found in {stdlib}. This Python installation may ship only "
                          "compiled files; choose another corpus or upload a .py file.")
    text = "".join(parts)
    return "".join(c if c == "\n" or " " <= c <= "~" else "?" for c in text)


def arithmetic_text(n_lines: int = ARITHMETIC_LINES, max_operand: int = ARITHMETIC_MAX_OPERAND,
                    seed: int = ARITHMETIC_SEED) -> str:
    """Lines "a+b=c" with a, b drawn uniformly from 0..max_operand by a seeded generator.

    Why it is learnable: the format never changes, and everything after "+" and "=" is fixed
    by what came before; only the operands are random. The answer needs both operands, so a
    model must remember the first operand across "+b=", which a 5-gram cannot see in full and
    an RNN can. See `arithmetic_floor_perplexity` for the best achievable perplexity.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, max_operand + 1, size=n_lines)
    b = rng.integers(0, max_operand + 1, size=n_lines)
    return "".join(f"{x}+{y}={x + y}\n" for x, y in zip(a.tolist(), b.tolist()))


def arithmetic_floor_perplexity(text: str, max_operand: int = ARITHMETIC_MAX_OPERAND) -> float:
    """Perplexity of the true model on `arithmetic_text` output: the lowest any model can reach.

    Each line has probability 1 / K**2 (K = max_operand + 1 equally likely values per operand)
    and every character after the operands is certain, so the mean negative log-likelihood is
    lines * 2 log K / characters.
    """
    lines = text.count("\n")
    return float(np.exp(lines * 2 * np.log(max_operand + 1) / len(text)))


CORPORA: dict[str, CorpusInfo] = {
    info.key: info
    for info in (
        CorpusInfo("stories", "The Lantern Almanac (stories)",
                   "About 40 KB of English written for RNN Lab: a ship's log, recipes, verse, "
                   "dialogue and a bestiary of invented creatures. Line structure, punctuation "
                   "and recurring names for the model to pick up.", load_stories),
        CorpusInfo("python", "Python source code",
                   "About 250 KB of Python's own standard library, read from this computer: "
                   "indentation, brackets, keywords and docstrings.", load_python_source),
        CorpusInfo("arithmetic", "Arithmetic lines",
                   f"{ARITHMETIC_LINES:,} lines like 12+7=19 with operands 0 to "
                   f"{ARITHMETIC_MAX_OPERAND}. Only the operands are random, so a small model "
                   "reaches a low perplexity in about a minute.", arithmetic_text),
    )
}


def list_corpora() -> list[CorpusInfo]:
    """The bundled corpora, in display order."""
    return list(CORPORA.values())


@functools.lru_cache(maxsize=None)
def load_corpus(key: str) -> str:
    """Text of a bundled corpus (the same string on every call).

    Raises
    ------
    ValueError
        For an unknown key, listing the known ones.
    CorpusError
        If the corpus's files cannot be read.
    """
    if key not in CORPORA:
        raise ValueError(f"unknown corpus {key!r}; choose one of {sorted(CORPORA)}")
    return CORPORA[key].loader()
