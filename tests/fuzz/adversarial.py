"""Adversarial inputs for regular expressions, generated from each pattern's own structure.

For every pattern the generator reads the parse tree (``re._parser``) and collects its literal words
(``xoxb-``, ``corner of``, ``-----BEGIN ``), one representative character per character class and
category, and a few strings the pattern matches (a random walk over the tree). From those it builds
texts that make a backtracking matcher retry: long runs of one class, alternations of two classes,
a literal word followed by a run, and matches with their last character cut (near-matches), repeated.

``texts(pattern, size)`` yields ``(label, text)`` pairs of about ``size`` code points; labels say
how a text was built, never hold it.
"""

from __future__ import annotations

import random
import zlib
import re
import time
from typing import Iterator

try:  # Python 3.11+
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as P  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as P  # type: ignore[no-redef]

# Representatives for the categories a pattern can use (\w, \d, \s and their negations).
_CATEGORY = {
    C.CATEGORY_DIGIT: "7", C.CATEGORY_NOT_DIGIT: "a", C.CATEGORY_SPACE: " ",
    C.CATEGORY_NOT_SPACE: "x", C.CATEGORY_WORD: "é", C.CATEGORY_NOT_WORD: "!",
    C.CATEGORY_LINEBREAK: "\n", C.CATEGORY_NOT_LINEBREAK: "q",
}
_EXTRA = " \t\n.-_'@:,/A1aé"


def _class_chars(items) -> list[str]:
    out: list[str] = []
    negate = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            out.append(chr(av))
        elif op is C.RANGE:
            lo, hi = av
            out += [chr(lo), chr((lo + hi) // 2), chr(hi)]
        elif op is C.CATEGORY:
            out.append(_CATEGORY.get(av, "a"))
    if negate:
        return [c for c in _CANDIDATES if not _in_class(c, items)][:4]
    return out


_CANDIDATES = "AÉaé!<#(\" 1_-.'\t"
_CATEGORY_TEST = {
    C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
    C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W",
}


def _in_class(ch: str, items) -> bool:
    """True when ``ch`` is one of the (non-negated) class items."""
    for op, av in items:
        if op is C.LITERAL and chr(av) == ch:
            return True
        if op is C.RANGE and av[0] <= ord(ch) <= av[1]:
            return True
        if op is C.CATEGORY and av in _CATEGORY_TEST and re.fullmatch(_CATEGORY_TEST[av], ch):
            return True
    return False


def atoms(pattern: str, flags: int = 0) -> tuple[list[str], list[str]]:
    """Return (literal words, class representatives) of ``pattern``."""
    words: list[str] = []
    chars: list[str] = []

    def walk(seq) -> None:
        run = ""
        for op, av in seq:
            if op is C.LITERAL:
                run += chr(av)
                continue
            if len(run) >= 2:
                words.append(run)
            run = ""
            if op is C.IN:
                chars.extend(_class_chars(av))
            elif op is C.ANY:
                chars.append("z")
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
                walk(av[2])
            elif op is C.SUBPATTERN:
                walk(av[-1])
            elif op is C.ATOMIC_GROUP if hasattr(C, "ATOMIC_GROUP") else False:
                walk(av)
            elif op is C.BRANCH:
                for alt in av[1]:
                    walk(alt)
            elif op in (C.ASSERT, C.ASSERT_NOT):
                walk(av[1])
        if len(run) >= 2:
            words.append(run)
        elif run:
            chars.append(run)

    walk(P.parse(pattern, flags))
    return sorted(set(words))[:40], sorted(set(chars))


def sample(pattern: str, flags: int, rng: random.Random, depth: int = 0) -> str:
    """A random string shaped like a match of ``pattern`` (lookarounds and backrefs are ignored)."""

    def gen(seq) -> str:
        out = []
        for op, av in seq:
            if op is C.LITERAL:
                out.append(chr(av))
            elif op is C.IN:
                cs = _class_chars(av) or ["a"]
                out.append(rng.choice(cs))
            elif op is C.ANY:
                out.append("z")
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
                lo, hi, body = av
                n = min(max(lo, rng.randint(lo, min(hi, lo + 4))), 12)
                out.append("".join(gen(body) for _ in range(n)))
            elif op is C.SUBPATTERN:
                out.append(gen(av[-1]))
            elif hasattr(C, "ATOMIC_GROUP") and op is C.ATOMIC_GROUP:
                out.append(gen(av))
            elif op is C.BRANCH:
                out.append(gen(rng.choice(av[1])))
        return "".join(out)

    return gen(P.parse(pattern, flags))


def seeds(pattern: str, flags: int = 0, n_samples: int = 6) -> list[tuple[str, str]]:
    """Short strings whose repetition stresses ``pattern``: ``(label, unit)`` pairs."""
    words, chars = atoms(pattern, flags)
    chars = sorted(set(chars) | set(_EXTRA))
    rng = random.Random(zlib.crc32(pattern.encode("utf-8")) & 0xFFFF)  # the same units in every run
    out: list[tuple[str, str]] = [(f"run[{c!r}]", c) for c in chars]
    for a in chars:
        for b in (" ", "-", ".", "a", "A", "1", "'", "\t"):
            if a != b:
                out.append((f"alt[{a!r}{b!r}]", a + b))
    for w in words:
        out.append((f"word[{w!r}]", w))
        for c in ("a", "A", "1", " ", "aB", "A ", "a-"):
            out.append((f"word+run[{w!r},{c!r}]", w + c * 8))
    for i in range(n_samples):
        s = sample(pattern, flags, rng)
        if s:
            out.append((f"match#{i}", s + " "))
            if len(s) > 1:
                out.append((f"near#{i}", s[:-1]))
                out.append((f"near+sep#{i}", s[:-1] + "!"))
    return out


def build(unit: str, size: int, head: str = "") -> str:
    """``head`` then ``unit`` repeated to about ``size`` code points."""
    reps = max(1, (size - len(head)) // max(1, len(unit)))
    return head + unit * reps


def prefixed(pattern: str, flags: int = 0) -> list[tuple[str, str, str]]:
    """``(label, head, unit)``: a pattern word then a run of a class, the shape of nested-repetition
    attacks (``xoxb-`` then ``aaaa...``)."""
    words, chars = atoms(pattern, flags)
    chars = sorted(set(chars) | set("aA1 -."))
    rng = random.Random(len(pattern))
    heads = list(words)
    for _ in range(3):  # the start of a match: ``xoxb-a`` before a run of ``a``
        s = sample(pattern, flags, rng)
        heads += [s[:cut] for cut in {len(s) // 2, len(s) - 1} if cut > 0]
    return [(f"head[{h!r}]+run[{c!r}]", h, c) for h in dict.fromkeys(heads) for c in chars]


def texts(pattern: str, size: int, flags: int = 0) -> Iterator[tuple[str, str]]:
    """All adversarial texts of about ``size`` code points for ``pattern``."""
    for label, unit in seeds(pattern, flags):
        yield label, build(unit, size)
    for label, head, unit in prefixed(pattern, flags):
        yield label, build(unit, size, head)


def compiled_patterns(obj) -> list[tuple[str, re.Pattern]]:
    """Every compiled pattern held by a module or an object (attributes, lists, tuples, dicts)."""
    found: list[tuple[str, re.Pattern]] = []
    for name in dir(obj):
        try:
            v = getattr(obj, name)
        except Exception:  # noqa: BLE001
            continue
        if hasattr(v, "pattern") and hasattr(v, "finditer") and isinstance(getattr(v, "pattern"), str):
            if not isinstance(v, re.Pattern):  # an RE2 object: test the same pattern under ``re``
                try:
                    v = re.compile(v.pattern)
                except re.error:
                    continue
            found.append((name, v))
        elif isinstance(v, (list, tuple)):
            for item in v:
                for x in (item if isinstance(item, tuple) else (item,)):
                    if hasattr(x, "pattern") and hasattr(x, "finditer") and isinstance(x.pattern, str):
                        found.append((f"{name}:{item[0] if isinstance(item, tuple) else ''}", x))
    return found


def best_time(fn, text: str, repeats: int = 3) -> float:
    """The shortest of ``repeats`` timings of ``fn(text)``, in seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t0)
    return best
