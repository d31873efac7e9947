"""Given names and surnames from Faker's person providers (a library's lexicon, loaded once on first
use): which capitalised words are usually first names and which are usually family names. Used where a
name's shape alone cannot tell (``heuristics.partner_firms``, ``heuristics.contact_names``).

- ``english_names``: en_US and en_GB given names and surnames;
- ``given_names``: the given names of every Faker locale (about 31,000: ``Pekka``, ``Tamás``, ``Трифон``);
- ``surnames``: the surnames of every Faker locale (about 28,000).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

_LOCALES = ("en_US", "en_GB")
_FIRST = ("first_names", "first_names_male", "first_names_female")


@lru_cache(maxsize=1)
def english_names() -> tuple[frozenset, frozenset]:
    """``(first names, surnames)``, capitalised as Faker writes them (``Anna``, ``Hoffman``)."""
    providers = [importlib.import_module(f"faker.providers.person.{locale}").Provider for locale in _LOCALES]
    return (frozenset(n for p in providers for n in _names(p, _FIRST)),
            frozenset(n for p in providers for n in _names(p, ("last_names",))))


@lru_cache(maxsize=1)
def given_names() -> frozenset:
    """The given names of every Faker locale's person provider, as Faker writes them."""
    return _every_locale(_FIRST)


@lru_cache(maxsize=1)
def surnames() -> frozenset:
    """The surnames of every Faker locale's person provider, as Faker writes them."""
    return _every_locale(("last_names",))


def _every_locale(attrs: tuple[str, ...]) -> frozenset:
    import faker.providers.person as person

    names: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        except (ImportError, AttributeError):
            continue
        names.update(_names(provider, attrs))
    return frozenset(names)


def _names(provider: type, attrs: tuple[str, ...]) -> set[str]:
    """The strings of a person provider's own name lists (tuples, or dicts of name to weight)."""
    found: set[str] = set()
    for attr in attrs:
        values = provider.__dict__.get(attr)
        if isinstance(values, (dict, tuple, list, set, frozenset)):
            found.update(v for v in values if isinstance(v, str))
    return found
