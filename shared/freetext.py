"""Operator-supplied text that lands in immutable events: ids, or short texts without personal data.

Events are evidence and are never rewritten, so a hold reference, a purpose or an extension reason
that names a data subject ("complaint by <name>, <e-mail>, <phone>") would outlive that subject's
erasure. Two kinds of field:

* **ids** (:func:`check_id`): references, purposes, categories, regions, dates. 1-128 characters
  of ``A-Z a-z 0-9 . _ : / -``, starting with a letter or digit (no spaces, no ``@``, no ``+``),
  and no run of 9 or more digits (a phone or account number written without separators).
* **short texts** (:func:`check_text`): extension reasons, recipient names, legal references,
  transfer mechanisms. At most 200 characters, no control characters, and refused when the
  detector below finds personal data in them.

The detector is deliberately cheap, local and conservative (it runs in every service, needs no
model and no call to the anonymization service, and refuses rather than lets through):

* ``EMAIL_ADDRESS``: an ``@`` between word characters;
* ``PHONE_NUMBER``: 7 or more digits in one run of digits, spaces, dots, dashes and parentheses
  (also catches card, account and IP-address numbers; ISO dates ``2026-12-31`` do not count);
* ``PERSON``: a title (Mr, Mrs, Ms, Dr, ...) before a capitalised word, or two capitalised words
  in a row (in any script; a particle such as ``von`` or ``de`` may stand between them) of which
  neither is a word of institutions and law (``Data Protection Authority``, ``Commission
  Implementing Decision``), unless the text names an organisation (``GmbH``, ``Ltd``, ``Inc``,
  ``Hosting``, ...). Text in a script without letter case (Chinese, Japanese, ...) cannot be
  checked this way and is refused as ``PERSON``.

A refusal is INVALID_ARGUMENT with reason ``FREE_TEXT_HAS_PERSONAL_DATA`` (personal data found)
or ``FREE_TEXT_NOT_AN_ID`` (an id field that is not id-shaped); the message names the field and
the kind found, never the value. All patterns are linear-time (no nested repetition).
"""

from __future__ import annotations

import re

from shared.errors import InvalidArgument

MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 200
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
LONG_DIGITS = re.compile(r"[0-9]{9}")
EMAIL = re.compile(r"\w@\w")
PHONE_RUN = re.compile(r"\+?[0-9][0-9 .()-]*")
TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Mme|Mlle)\b\.? ?[A-Z]")
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")  # letters of any script, with ' and -
ISO_DATE = re.compile(r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}\b")
PARTICLES = frozenset("al auch bin da das de del della den der des di die do dos du el het la le t ten "
                      "ter van von y zu".split())
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Capitalised words of institutions, law and data protection: a pair of these is no name.
INSTITUTIONAL = frozenset("""
    act administrative adequacy agency agreement american annex appeal applicable art article
    assessment audit authority authorities bank binding board breach bureau business california
    case cause chapter civil clause clauses cloud code commission committee compliance consumer
    contractual controller corporate council court criminal customer data decision department
    directive district eu europe european federal framework general government high hosting
    implementing information inquiry internal investigation justice kingdom law legal legitimate
    litigation management ministry national notice obligation office officer order parliament
    personal police policy preservation privacy procedure processing processor product
    protection public records regulation regulator regulatory request requests response rights
    rules section security service services shield standard state states subject supervisory
    support supreme tax team the trade transfer tribunal union united
""".split())
ORGANISATION = re.compile(
    r"\b(?:GmbH|AG|KG|SE|SA|SAS|SARL|SpA|Srl|BV|NV|AB|AS|Oy|ApS|Inc|Ltd|LLC|LLP|plc|PLC|Corp|"
    r"Corporation|Limited|Group|Holdings?|Hosting|Cloud|Analytics|Systems|"
    r"Technologies|Labs|Solutions|Services|Partners|Bank|University|Institute|Foundation)\b")


def personal_data_found(value: str, id_field: bool = False) -> list[str]:
    """Kinds of personal data the detector finds in ``value`` (empty list: none found)."""
    found = []
    if EMAIL.search(value):
        found.append("EMAIL_ADDRESS")
    digits = LONG_DIGITS.search(value) if id_field else any(
        sum(c.isdigit() for c in m.group()) >= 7 for m in PHONE_RUN.finditer(ISO_DATE.sub(" ", value)))
    if digits:
        found.append("PHONE_NUMBER")
    if not id_field and _names_a_person(value):
        found.append("PERSON")
    return found


def _names_a_person(value: str) -> bool:
    if TITLE.search(value):
        return True
    if sum(c.isalpha() and not c.isupper() and not c.islower() for c in value) >= 2:
        return True  # a script without letter case (CJK, ...): names cannot be told apart, refuse
    if ORGANISATION.search(value):
        return False
    words = [m.group() for m in WORD.finditer(value)]
    named = [_capitalised(w) and w.lower() not in INSTITUTIONAL for w in words]
    for i in range(len(words) - 1):
        if not named[i]:
            continue
        j = i + 1
        while j < len(words) and j - i <= 3 and words[j] in PARTICLES:
            j += 1  # "Lukas von Berg", "Ana de la Cruz", "Jan van der Berg"
        if j < len(words) and named[j]:
            return True
    return False


def _capitalised(word: str) -> bool:
    """An upper-case first letter followed by lower-case letters (not an acronym like GDPR)."""
    return word[0].isupper() and any(c.islower() for c in word[1:])


def _refuse_personal_data(field: str, value: str, id_field: bool) -> None:
    found = personal_data_found(value, id_field)
    if found:
        raise InvalidArgument(f"{field} holds what looks like personal data ({', '.join(found)}); "
                              "it is recorded in the event log for good: use an id or a reason "
                              "without names, e-mail addresses or phone numbers",
                              "FREE_TEXT_HAS_PERSONAL_DATA")


def check_id(field: str, value: str) -> None:
    """Raise InvalidArgument unless ``value`` is empty or an id (see the module docstring)."""
    if not value:
        return
    _refuse_personal_data(field, value, id_field=True)
    if not ID.fullmatch(value):
        raise InvalidArgument(f"{field} must be an id: 1-{MAX_ID_CHARS} letters, digits and ._:/- "
                              "(no spaces), starting with a letter or digit", "FREE_TEXT_NOT_AN_ID")


def check_text(field: str, value: str) -> None:
    """Raise InvalidArgument when ``value`` is too long, has control characters or personal data."""
    if len(value) > MAX_TEXT_CHARS or CONTROL.search(value):
        raise InvalidArgument(f"{field} must be at most {MAX_TEXT_CHARS} characters on one line",
                              "FREE_TEXT_TOO_LONG")
    _refuse_personal_data(field, value, id_field=False)
