"""Keys of structured fragments (JSON, ``key: value`` lines, query strings, XML) and what they mean.

A value's key says what it is: ``"first_name": "marta"`` is a person whatever its case, and
``"order_id": 5551234567`` is no telephone whatever its digits. ``key_meaning`` maps a key (any
style: ``firstName``, ``first-name``, ``FIRST_NAME``) to an entity type, ``NOT_PERSONAL`` for keys of
ids, counts and times, or None; ``key_before`` finds the key a value starts after.
"""

from __future__ import annotations

import re

NOT_PERSONAL = "NOT_PERSONAL"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")
_PERSON_QUALIFIERS = frozenset("""first last given family full middle display contact customer patient
recipient sender holder owner maiden person user account client employee legal real birth sur""".split())
_PERSON_KEYS = frozenset("""firstname lastname surname fullname givenname familyname middlename
displayname cardholder accountholder forename forenames nachname vorname nom prenom apellido""".split())
_EMAIL_TOKENS = frozenset({"email", "mail", "emailaddress", "e"})
_PHONE_TOKENS = frozenset({"phone", "tel", "telephone", "mobile", "cell", "cellphone", "fax", "msisdn",
                           "phonenumber", "landline", "whatsapp"})
_PLACE_TOKENS = frozenset({"address", "addr", "street", "streetaddress", "city", "town", "zip", "zipcode",
                           "postcode", "postalcode", "postal"})
_BIRTH_KEYS = frozenset({"dob", "dateofbirth", "birthdate", "birthday", "birth"})
_SSN_KEYS = frozenset({"ssn", "socialsecuritynumber", "socialsecurity"})
_NOT_PERSONAL_TOKENS = frozenset("""id ids uuid guid ts timestamp time ms created updated modified at
count qty quantity amount price total sku version seq sequence size offset limit hash order batch
invoice product item port pid epoch nonce index idx build line row page status score""".split())


def key_tokens(key: str) -> list[str]:
    """``firstName`` -> ``["first", "name"]``; ``ORDER-ID`` -> ``["order", "id"]``."""
    return [t for t in _SPLIT.split(_CAMEL.sub("_", key.strip()).lower()) if t]


def key_meaning(key: str) -> str | None:
    """The entity type a key's values have, ``NOT_PERSONAL``, or None when the key says nothing."""
    tokens = key_tokens(key)
    if not tokens or len(tokens) > 5:
        return None
    joined = "".join(tokens)
    if joined in _SSN_KEYS:
        return "US_SSN"
    if joined in _BIRTH_KEYS or (("birth" in tokens) and ("date" in tokens or "day" in tokens)):
        return "DATE_TIME"
    if any(t in _PHONE_TOKENS for t in tokens) or joined in _PHONE_TOKENS:
        return "PHONE_NUMBER"
    if any(t in _EMAIL_TOKENS for t in tokens) and tokens != ["e"]:
        return "EMAIL_ADDRESS"
    if joined in _PERSON_KEYS or ("name" in tokens and (len(tokens) == 1 or any(
            t in _PERSON_QUALIFIERS for t in tokens))):
        return "PERSON"
    if any(t in _PLACE_TOKENS for t in tokens) and not tokens[-1] in ("id", "type", "count"):
        return "LOCATION"
    if any(t in _NOT_PERSONAL_TOKENS for t in tokens) or tokens[-1].endswith("id"):
        return NOT_PERSONAL
    return None


# A key right before a value: ``"order_id": ``, ``order_id=``, ``Order ID: ``, ``<order_id>``.
_KEY_BEFORE = re.compile(r"""(?:["']|\\")?(?P<k>[A-Za-z_][A-Za-z0-9_.-]{0,40}|[A-Za-z][A-Za-z ]{0,30}[A-Za-z])"""
                         r"""(?:["']|\\")?[ \t]*[:=][ \t]*(?:["']|\\")?$|<(?P<t>[A-Za-z_][A-Za-z0-9_.-]{0,40})>$""")


def key_before(text: str, start: int) -> str | None:
    """The key whose value starts at ``start``, or None (looks back at most 48 code points, same line)."""
    line = text.rfind("\n", max(0, start - 48), start) + 1
    m = _KEY_BEFORE.search(text, max(line, start - 48), start)
    if m is None:
        return None
    return m.group("k") or m.group("t")
