"""Character n-gram counting for a whole batch in NumPy: the hot loop of :mod:`groundswell.ml.fast`.

Why: the character 2–5-gram block is most of the default model's cost per tweet. Counting with Python
strings allocates and hashes ~400 substrings a tweet and then looks each distinct one up in a vocabulary of
~300k strings (cache misses on every lookup). Here every n-gram becomes an integer instead: each character is
mapped to a small alphabet index (the characters the vocabulary uses, typically ~70 after normalisation, so
7 bits), an n-gram's key packs its characters' indices, the vocabulary becomes a sorted array of such keys,
and a batch's n-grams are looked up with one ``searchsorted`` and counted per tweet with one ``unique``.

The result is exactly what scikit-learn's ``analyzer="char"`` counts (whitespace runs collapsed to one space,
every ``doc[i:i + n]`` for ``n`` in the range). An n-gram containing a character the vocabulary never uses
cannot be in the vocabulary, so such characters map to 0 and any window containing one is dropped.
:meth:`CharGramIndex.build` returns None when the keys would not fit in 63 bits (huge alphabets); callers
then count with strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["CharGramIndex"]

_WHITESPACE = re.compile(r"\s\s+")
#: Joins a batch's documents; must never be a vocabulary character (then it maps to 0 and splits windows).
_SEPARATOR = "\x00"


@dataclass(frozen=True)
class CharGramIndex:
    """A character n-gram vocabulary as sorted integer keys, for counting whole batches at once."""

    ngram_range: tuple[int, int]
    bits: int
    #: Code point → alphabet index (1…); 0 for code points the vocabulary never uses.
    table: NDArray[np.int64]
    #: Sorted n-gram keys and the vocabulary column of each.
    keys: NDArray[np.int64]
    columns: NDArray[np.int64]
    n_columns: int

    @classmethod
    def build(cls, vocabulary: dict[str, int], ngram_range: tuple[int, int]) -> CharGramIndex | None:
        alphabet = sorted(set("".join(vocabulary)))
        if _SEPARATOR in alphabet or not alphabet:
            return None
        bits = max(1, len(alphabet).bit_length())  # indices 1…len(alphabet), 0 reserved
        if bits * ngram_range[1] > 63:
            return None
        table = np.zeros(ord(alphabet[-1]) + 1, dtype=np.int64)
        for index, char in enumerate(alphabet, start=1):
            table[ord(char)] = index
        index_of = {char: i for i, char in enumerate(alphabet, start=1)}
        keys = np.fromiter(
            (sum(index_of[c] << (bits * k) for k, c in enumerate(gram)) for gram in vocabulary),
            dtype=np.int64,
            count=len(vocabulary),
        )
        columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        order = np.argsort(keys, kind="stable")
        return cls(
            (int(ngram_range[0]), int(ngram_range[1])), bits, table, keys[order], columns[order], len(vocabulary)
        )

    def _codes(self, docs: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(alphabet index per character of the joined batch, document number per character)."""
        collapsed = [_WHITESPACE.sub(" ", doc) for doc in docs]
        joined = _SEPARATOR.join(collapsed) + _SEPARATOR
        points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        inside = points < len(self.table)
        codes = np.where(inside, self.table[np.where(inside, points, 0)], 0)
        lengths = np.fromiter(map(len, collapsed), dtype=np.int64, count=len(collapsed)) + 1
        rows = np.repeat(np.arange(len(collapsed), dtype=np.int64), lengths)
        return codes, rows

    def count(self, docs: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(document, vocabulary column, count) for every in-vocabulary n-gram of every document."""
        empty = np.zeros(0, dtype=np.int64)
        if not docs:
            return empty, empty, empty
        row_bits = max(1, len(docs).bit_length())
        if self.bits * self.ngram_range[1] + row_bits > 63 and len(docs) > 1:
            half = len(docs) // 2
            first, second = self.count(docs[:half]), self.count(docs[half:])
            return (
                np.concatenate([first[0], second[0] + half]),
                np.concatenate([first[1], second[1]]),
                np.concatenate([first[2], second[2]]),
            )
        low, high = self.ngram_range
        codes, rows = self._codes(docs)
        known = codes != 0
        key = codes.copy()
        valid = known.copy()
        found: list[NDArray[np.int64]] = []
        for n in range(1, high + 1):
            if n > 1:
                # Windows of n characters starting at each position: extend the (n-1)-windows by one character.
                key = key[:-1] | (codes[n - 1 :] << (self.bits * (n - 1)))
                valid = valid[:-1] & known[n - 1 :]
            if n >= low:
                # (n-gram, document) in one integer, n-gram first: sorting groups each n-gram's occurrences.
                found.append((key[valid] << row_bits) | rows[: len(valid)][valid])
        pairs = np.concatenate(found)
        pairs.sort()
        if not len(pairs):
            return empty, empty, empty
        starts = np.flatnonzero(np.concatenate([[True], pairs[1:] != pairs[:-1]]))
        counts = np.diff(np.append(starts, len(pairs)))
        unique = pairs[starts]
        grams = unique >> row_bits
        # Sorted queries: each binary search starts where the previous one ended, and memory is read in order.
        where = np.searchsorted(self.keys, grams)
        np.minimum(where, len(self.keys) - 1, out=where)
        hit = self.keys[where] == grams
        return unique[hit] & ((1 << row_bits) - 1), self.columns[where[hit]], counts[hit]
