"""Person names after the cues of German, French, Spanish, Portuguese, Italian and Dutch.

Cues (case-insensitive; the name itself starts with a capital letter, any script):

* introductions: ``Ich heiße``, ``Mein Name ist``, ``Je m'appelle``, ``Mon nom est``, ``Me llamo``,
  ``Mi nombre es``, ``Chamo-me``, ``O meu nome é``, ``Mi chiamo``, ``Il mio nome è``, ``Ik heet``,
  ``Mijn naam is`` (and ``je suis``, ``soy``, ``sou``, ``sono``, ``ik ben``, scored lower: they also
  introduce a job or a nationality; German ``ich bin`` is left out, as German capitalises nouns);
* account holders and form fields: ``Kontoinhaber:``, ``Titular:``, ``Titulaire :``, ``Intestatario:``,
  ``Rekeninghouder:``, ``Name:``/``Nom :``/``Nombre:``/``Nome:``/``Naam:`` and the first/last-name
  fields, ``a nombre de``, ``em nome de``, ``au nom de``, ``a nome di``, ``op naam van``,
  ``ten name van``, ``auf den Namen``;
* titles: ``Herr``, ``Frau``, ``Monsieur``, ``Madame``, ``M.``, ``Mme``, ``Señor``, ``Sra.``,
  ``Senhor``, ``Dona``, ``Signor``, ``Sig.ra``, ``Dott.``, ``Dhr.``, ``Mevrouw``...;
* greetings before a name (``Hallo``, ``Liebe``, ``Sehr geehrte Frau``, ``Bonjour``, ``Chère``,
  ``Hola``, ``Estimada``, ``Olá``, ``Prezado``, ``Ciao``, ``Gentile``, ``Beste``, ``Geachte``) and
  sign-offs before a name on the same or the next line (``Viele Grüße``, ``Mit freundlichen Grüßen``,
  ``Cordialement``, ``Saludos``, ``Atenciosamente``, ``Cordiali saluti``, ``Met vriendelijke groet``).

Every pattern is a fixed alternation of words followed by bounded blanks: linear time.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from .base import LetheRuleRecognizer
from .names import scan_name

_INTRO = (
    r"ich[ \t]+hei(?:ß|ss)e|mein[ \t]+name[ \t]+ist|je[ \t]+m['’]appelle|je[ \t]+me[ \t]+nomme|"
    r"mon[ \t]+nom[ \t]+est|me[ \t]+llamo|mi[ \t]+nombre[ \t]+es|chamo-me|me[ \t]+chamo|"
    r"(?:o[ \t]+)?meu[ \t]+nome[ \t]+é|mi[ \t]+chiamo|(?:il[ \t]+)?mio[ \t]+nome[ \t]+è|ik[ \t]+heet|"
    r"mijn[ \t]+naam[ \t]+is|hier[ \t]+(?:ist|spricht)|aquí[ \t]+(?:es|habla)|fala[ \t]+o|fala[ \t]+a"
)
_WEAK_INTRO = r"je[ \t]+suis|soy|sou|sono|ik[ \t]+ben"
_FIELD = (
    r"kontoinhaber(?:in)?|inhaber(?:in)?|titular|titulaire|intestatari[oa]|rekeninghouder|"
    r"begünstigter|bénéficiaire|beneficiario|beneficiário|begunstigde|"
    r"vorname|nachname|familienname|name|nom|prénom|nom[ \t]+de[ \t]+famille|nombre|apellidos?|nome|"
    r"apelido|sobrenome|cognome|naam|voornaam|achternaam|absender|empfänger|destinataire|"
    r"destinatario|destinatário|destinatario|ontvanger|afzender|expéditeur|remitente|remetente|mittente"
)
_ON_NAME = (
    r"a[ \t]+nombre[ \t]+de|em[ \t]+nome[ \t]+de|au[ \t]+nom[ \t]+de|a[ \t]+nome[ \t]+di|"
    r"intestat[oa][ \t]+a|op[ \t]+naam[ \t]+van|ten[ \t]+name[ \t]+van|auf[ \t]+den[ \t]+namen|"
    r"im[ \t]+namen[ \t]+von"
)
_TITLE = (
    r"herrn?|frau|hr\.|fr\.|monsieur|madame|mademoiselle|mme\.?|mlle\.?|m\.|señora?|señorita|sra\.|sr\.|"
    r"srta\.|doña|don|senhora?|sr\.ª|sra\.ª|dona|signora?|signorina|sig\.(?:ra)?|dott\.(?:ssa)?|"
    r"dr\.|prof\.|dhr\.|mevr\.|mevrouw|meneer|de[ \t]+heer"
)
_GREETING = (
    r"hallo|liebe|lieber|sehr[ \t]+geehrter?(?:[ \t]+(?:frau|herr))?|guten[ \t]+tag|moin|servus|"
    r"bonjour|bonsoir|salut|cher|chère|hola|estimad[oa]|querid[oa]|buenos[ \t]+días|olá|ola|"
    r"prezad[oa]|car[oa]|ciao|salve|gentile|egregio|buongiorno|beste|geachte(?:[ \t]+(?:heer|mevrouw))?|"
    r"hoi|dag|goedemorgen|goedemiddag|goedenavond|buonasera|buenas[ \t]+tardes|bom[ \t]+dia|boa[ \t]+tarde"
)
_SIGN_OFF = (
    r"(?:viele|liebe|beste|herzliche|freundliche)[ \t]+grüße|mit[ \t]+freundlichen[ \t]+grüßen|grüße|"
    r"(?:bien[ \t]+)?cordialement|bien[ \t]+à[ \t]+vous|amicalement|bises|salutations|"
    r"(?:un[ \t]+)?saludos?(?:[ \t]+cordiales)?|atentamente|un[ \t]+abrazo|"
    r"(?:com[ \t]+os[ \t]+melhores[ \t]+)?cumprimentos|atenciosamente|cordialmente|abraços|beijos|"
    r"cordiali[ \t]+saluti|distinti[ \t]+saluti|saluti|un[ \t]+saluto|"
    r"met[ \t]+vriendelijke[ \t]+groet(?:en)?|(?:hartelijke[ \t]+|vriendelijke[ \t]+)?groet(?:en)?"
)
_CUES = re.compile(
    r"(?i:(?<![\w'’-])(?:(?P<intro>" + _INTRO + r")|(?P<weak>" + _WEAK_INTRO + r")|(?P<on>" + _ON_NAME
    + r")|(?P<title>" + _TITLE + r"))(?![\w'’-]))[ \t]{1,2}"
    r"|(?i:(?<![\w'’-])(?P<field>" + _FIELD + r")(?![\w'’-]))[ \t]{0,2}:[ \t]{0,2}"
    r"|(?i:(?:^|(?<=[\n.!?]))[ \t]*(?P<greet>" + _GREETING + r")(?![\w'’-]))[ \t]{1,2}"
    r"|(?i:(?<![\w'’-])(?P<sign>" + _SIGN_OFF + r")(?![\w'’-]))[ \t]{0,2}[,!.]?[ \t]{0,2}\n?[ \t>]{0,4}",
    re.M,
)
# Name particles ``scan_name`` does not read (Dutch ``'t``, ``te``, ``in 't``) and the surname after them.
_PARTICLE_TAIL = re.compile(r"(?:[ \t](?:van|de|der|den|ter|ten|te|in|op|het|['’]t|['’]s)){1,3}[ \t][^\W\d_a-z][\w'’-]*")
_SCORES = {"intro": 0.9, "on": 0.9, "field": 0.9, "title": 0.85, "sign": 0.85, "greet": 0.8, "weak": 0.7}
# A greeting word that is also a plain word (``Dag`` in ``Dag 3``, ``Cara`` in ``Cara mia``): its
# name must be one or two words followed by a comma, full stop, ``!`` or the end of the line.
_GREETING_END = re.compile(r"[ \t]*(?:[,!.:]|$)", re.M)


class LetheEuCueNameRecognizer(LetheRuleRecognizer):
    """PERSON for the capitalised words after a cue of one of the six languages (module docstring)."""

    ENTITY = "PERSON"

    def find(self, text: str, nlp_artifacts=None) -> list[RecognizerResult]:  # noqa: D102 - see the class docstring
        out = []
        for m in _CUES.finditer(text):
            kind = m.lastgroup
            start, end = scan_name(text, m.end(), max_tokens=4)
            more = _PARTICLE_TAIL.match(text, end) if end > start else None
            if more:
                end = more.end()  # ``Milan van 't Houteveen``, ``Jan van der Berg``
            if end <= start:
                continue
            if kind == "greet" and not _GREETING_END.match(text, end):
                continue
            if kind in ("weak", "greet", "title") and text[start:end].isupper() and " " not in text[start:end]:
                continue  # ``Sono IT``, ``Hola TODOS``: an acronym or a shout, not a name
            out.append(RecognizerResult(self.ENTITY, start, end, _SCORES[kind]))
        return out
