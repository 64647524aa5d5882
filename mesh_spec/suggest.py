"""Bounded "did you mean": suggestions whose total cost does not grow with the square of the spec.

`difflib.get_close_matches` compares a name with every known name. Run for each unknown reference
of a broken spec that is names x references: 2,000 unknown calls among 2,000 services took 90 s.
A `Suggester` indexes the known names by length (a name whose length differs too much can never
reach the cutoff, so it is not even looked at), remembers every answer, and has a budget of
comparisons for its whole life: once spent, it stops suggesting (the diagnostic keeps its generic
hint). A broken spec therefore costs at most the budget more than a valid one, whatever its size,
and the first unknown names, the ones a user reads first, still get their suggestion.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

CUTOFF = 0.6
"""As difflib's default: a suggestion must be at least this similar."""
BUDGET = 10_000
"""Comparisons per Suggester: at worst (every name similar to every other) about 0.2 s, enough to
suggest for every typo of a normal spec (a few unknown names among a few hundred)."""
LONGEST = 200
"""Longer names (a pasted blob, a fuzzer's runaway string) are never compared."""


class Suggester:
    def __init__(self, names: Iterable[str], budget: int = BUDGET) -> None:
        self._by_length: dict[int, list[str]] = {}
        for name in sorted(set(names)):
            if len(name) <= LONGEST:
                self._by_length.setdefault(len(name), []).append(name)
        self._cache: dict[str, str | None] = {}
        self.budget = budget
        self.comparisons = 0

    def suggest(self, name: str) -> str | None:
        """The most similar known name (ties: the first in sorted order), or None."""
        if name in self._cache:
            return self._cache[name]
        spent = self.comparisons >= self.budget  # then not even the matcher is set up
        found = self._search(name) if 0 < len(name) <= LONGEST and not spent else None
        self._cache[name] = found
        return found

    def _search(self, name: str) -> str | None:
        # ratio = 2*matches/(len(a)+len(b)) <= 2*min/(len(a)+len(b)): outside these lengths it
        # cannot reach the cutoff.
        size = len(name)
        low = int(size * CUTOFF / (2 - CUTOFF))
        high = int(size * (2 - CUTOFF) / CUTOFF) + 1
        matcher = SequenceMatcher()
        matcher.set_seq2(name)  # difflib caches details of the second sequence
        best: tuple[float, str] | None = None
        for length in range(max(low, 1), high + 1):
            for candidate in self._by_length.get(length, ()):
                if self.comparisons >= self.budget:
                    return best[1] if best else None
                self.comparisons += 1
                matcher.set_seq1(candidate)
                if matcher.real_quick_ratio() < CUTOFF or matcher.quick_ratio() < CUTOFF:
                    continue
                score = matcher.ratio()
                if score >= CUTOFF and (
                    best is None or score > best[0] or (score == best[0] and candidate < best[1])
                ):
                    best = (score, candidate)
        return best[1] if best else None


def did_you_mean(found: str | None, otherwise: str | None) -> str | None:
    return f"did you mean '{found}'?" if found is not None else otherwise
