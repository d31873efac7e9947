"""Name and address heuristics applied after overlap resolution, registered in the explicit list below.

Each heuristic is ``apply(text, hard, soft) -> soft``: ``hard`` are the chosen pattern-validated spans,
``soft`` the chosen model-based ones (``[type, start, end, score]`` lists, offsets into the normalised
text); it returns the new soft list and may edit spans in place, never making two spans overlap.
Adding one is adding a module and a line here; they run in list order.
"""

from __future__ import annotations

from typing import Callable

from .contact_names import contact_names
from .common_words import drop_common_words
from .coordination import coordinated_persons
from .csv_cells import keep_csv_cells
from .cue_typing import type_names_by_cues
from .house_numbers import attach_house_numbers
from .lexicon_names import org_names_to_persons
from .name_propagation import propagate_person_names
from .not_persons import retype_non_persons
from .partner_firms import partner_firms
from .person_surroundings import persons_by_surroundings
from ..languages.label_words import drop_label_words

Heuristic = Callable[[str, list, list], list]

HEURISTICS: dict[str, Heuristic] = {
    "partner_firms": partner_firms,  # before coordination: a firm's partners are not three people
    "coordinated_persons": coordinated_persons,
    "propagate_person_names": propagate_person_names,
    "house_numbers": attach_house_numbers,
    "org_names_to_persons": org_names_to_persons,
    "contact_names": contact_names,
    "persons_by_surroundings": persons_by_surroundings,
    "cue_typing": type_names_by_cues,
    "not_persons": retype_non_persons,
    "common_words": drop_common_words,  # after the cues: a word they made a name stays one
    "label_words": drop_label_words,  # languages other than English: labels are never names
    "csv_cells": keep_csv_cells,  # last: cuts what the others made at CSV cell edges
}
