"""NER pass: names written in capitals (``PATIENT NAME: MARGOT ELLERBY``).

The small model misses names in ALL-CAPS runs; this pass re-runs NER on a copy with the runs in title
case (one code point for one, so offsets carry over) and lets the copy's entities replace the
original's inside the runs.
"""

from __future__ import annotations

import bisect
import re

# Two or more consecutive words written in capitals (any script), e.g. "MARGOT ELLERBY".
_CAPS_RUN = re.compile(r"(?<!\w)[^\W\d_]{2,}(?:[ \t]+[^\W\d_]{2,})+(?!\w)")

_CAPS_WINDOW_MIN = 5000
_CAPS_CONTEXT = 200


def add_caps_variants(nlp, disabled: list[str], texts: list[str], ner: list[list], batch_size: int) -> None:
    """Re-run NER on capitalised copies of ALL-CAPS runs; their entities replace the originals'.

    A short text is re-run whole; in a long one (over ``_CAPS_WINDOW_MIN`` code points) only the
    lines around the runs are, so the second NER pass costs in proportion to the capitals, not to
    the text.
    """
    jobs = []  # (text index, runs, offset of the variant in the text, variant)
    for i, text in enumerate(texts):
        runs = [m.span() for m in _CAPS_RUN.finditer(text) if m.group().isupper()]
        if not runs:
            continue
        windows = [(0, len(text))] if len(text) <= _CAPS_WINDOW_MIN else _windows(text, runs)
        for ws, we in windows:
            chars = list(text[ws:we])
            for s, e in runs:
                if ws <= s and e <= we:
                    titled = text[s:e].title()
                    if len(titled) == e - s:
                        chars[s - ws:e - ws] = titled
            jobs.append((i, runs, ws, "".join(chars)))
    if not jobs:
        return
    variants = nlp.pipe([v for *_, v in jobs], disable=disabled, batch_size=batch_size)
    replaced: dict[int, list] = {}
    for (i, runs, ws, _), doc in zip(jobs, variants):
        found = replaced.setdefault(i, [])
        found += [(e.label_, ws + e.start_char, ws + e.end_char) for e in doc.ents]
    for i, found in replaced.items():
        runs = [m.span() for m in _CAPS_RUN.finditer(texts[i]) if m.group().isupper()]
        starts = [s for s, _ in runs]

        def inside(s: int, e: int, runs=runs, starts=starts) -> bool:
            k = bisect.bisect_left(starts, e)  # runs are sorted and disjoint
            return k > 0 and runs[k - 1][1] > s

        kept = [span for span in ner[i] if not inside(span[1], span[2])]
        kept += [span for span in found if inside(span[1], span[2])]
        ner[i] = kept


def _windows(text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merged windows around ``runs``: the run's line, cut to ``_CAPS_CONTEXT`` code points each side
    at a space."""
    out: list[list[int]] = []
    for s, e in runs:
        ws = max(text.rfind("\n", 0, s) + 1, s - _CAPS_CONTEXT)
        if ws > 0 and text[ws - 1] != "\n":
            sp = text.find(" ", ws, s)
            ws = sp + 1 if sp != -1 else s
        we = text.find("\n", e)
        we = len(text) if we == -1 else we
        if we - e > _CAPS_CONTEXT:
            sp = text.rfind(" ", e, e + _CAPS_CONTEXT)
            we = sp if sp != -1 else e
        if out and ws <= out[-1][1]:
            out[-1][1] = max(out[-1][1], we)
        else:
            out.append([ws, we])
    return [(a, b) for a, b in out]
