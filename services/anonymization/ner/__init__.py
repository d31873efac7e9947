"""Extra NER passes over variants of the texts, registered in the explicit list below.

Each pass is ``run(nlp, disabled, texts, ner, batch_size)``: it may re-run the spaCy pipeline (with the
``disabled`` components off) on variants of the normalised ``texts`` and edits ``ner`` in place (one
list of ``(label, start, end)`` per text). Adding a pass is adding a module and a line here; passes
run in list order.
"""

from __future__ import annotations

from typing import Callable

from .caps import add_caps_variants
from .lowercase import add_lower_variants

NerPass = Callable[..., None]

NER_PASSES: dict[str, NerPass] = {
    "caps": add_caps_variants,
    "lowercase": add_lower_variants,
}
