"""Street addresses and postcodes of Germany, France, Spain, Portugal, Italy and the Netherlands
(reported as LOCATION): ``Am Kirchberg 7a, 35039 Marburg``, ``12 rue de Rivoli, 75001 Paris``,
``Calle Mayor 5, 28013 Madrid``, ``Rua Augusta, n.º 25, 1100-048 Lisboa``,
``Viale Sermonti, 13, 00186 Roma (RM)``, ``Aiméesingel 6, 7170 BM Utrecht``.

A street line is one of:

* a street word then its name then the house number (DE ``Am``/``An der``/``Im``..., ES ``Calle``,
  ``Avenida``, ``C/``, PT ``Rua``, ``Praça``, IT ``Via``, ``Piazza``, NL/DE compounds ending in
  ``-straße``/``-weg``/``-straat``/``-laan``/``-gracht``...), with an optional comma and ``n.º``/``nº``;
* FR/BE order: the house number (``12``, ``12 bis``) then the street word and its name
  (``12 rue de Rivoli``, ``3, avenue des Champs-Élysées``).

It may continue with ``, <postcode> <city>`` (DE/FR/ES/IT: 5 digits; NL: 4 digits and 2 letters;
PT: 4+3 digits; an optional ``D-``/``F-`` country prefix and an Italian ``(RM)`` province). A postcode
and city alone are taken after an address cue (``Adresse``, ``PLZ``, ``code postal``, ``dirección``,
``morada``, ``indirizzo``, ``adres``, ``wohne in``...).

Linear: every repetition is bounded (at most five name words), and word runs start at a word start.
"""

from __future__ import annotations

from .base import LetheRegexRecognizer

_NAME = r"(?:[^\W\d_a-z][\w'’.-]*|(?:de|del|della|delle|dei|degli|di|da|do|dos|das|du|des|la|le|les|el|los|las|y|e|i|van|von|der|den|het|am|an|im|zum|zur|auf|sur)(?=[ \t])|[lLdD]['’](?=[^\W\d_]))"
_NAMES = r"(?:" + _NAME + r"(?:[ \t]{1,2}" + _NAME + r"|(?<=['’])" + _NAME + r"){0,4})"
# A house number (``7a``, ``26-83``, ``n.º 25``, PT ``S/N``: no number), then an optional floor or
# unit (IT ``Piano 8``, ``Scala B``, ES ``piso 3``, ``puerta 2``, PT ``3º Esq``, DE ``2. OG``).
_NUMBER = (r"(?:(?:n\.?[ºo°]\.?[ \t]?|nr\.?[ \t]?|no\.?[ \t]?)?\d{1,4}(?:[ \t]?[a-zA-Z](?![\w]))?(?:[-/]\d{1,4}[a-zA-Z]?)?"
           r"|[Ss]/[Nn])(?:,?[ \t](?:Piano|Scala|Interno|Int\.|piso|Piso|puerta|Puerta|esc\.|andar|Andar|bus|Bus|"
           r"Stock|OG|etage)[ \t]?[\wº]{1,4}(?![\w]))?")
_DE_PREFIX = (r"(?:Am|An[ \t]der|An[ \t]den|Auf[ \t]der|Auf[ \t]dem|Im|In[ \t]der|In[ \t]den|Zum|Zur|"
              r"Unter[ \t]den|Hinter[ \t]der|Vor[ \t]dem|Alte|Alter|Neue|Neuer|Obere|Untere)")
_TIME_WORD = (r"(?:Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag|Wochenende|Jahr|Jahre|Monat|"
              r"Tag|Morgen|Abend|Ende|Anfang|Januar|Februar|März|April|Mai|Juni|Juli|August|September|"
              r"Oktober|November|Dezember|Kapitel|Abschnitt|Punkt|Seite|Schritt|Level|Team|Projekt)(?![\w])")
_DE_NAMES = r"(?!" + _TIME_WORD + r")" + _NAMES
_ROMANCE_PREFIX = (
    r"(?:C/|C\.|Calle|Pasadizo|Bajada|Subida|Costanilla|Senda|Vial|Plazuela|Polígono|Avenida|Avda\.|Av\.?|Paseo|Cuesta|Rambla|Acceso|Urbanización|Cañada|Ronda|Plaza|Pza\.|Camino|Carretera|Ctra\.|Ronda|Travesía|Pasaje|"
    r"Glorieta|Callejón|Vía|Rua|R\.|Praça|Pç\.|Travessa|Largo|Estrada|Alameda|Beco|Calçada|Rotunda|"
    r"Praceta|Via|V\.|Viale|Piazza|P\.zza|Piazzale|Corso|C\.so|Vicolo|Contrada|Borgo|Strada|Lungomare|"
    r"Salita|Vico|Località|Stretto|Incrocio|Canale|Rotonda|Circonvallazione|Lungolago|Traversa)"
)
_COMPOUND = (
    r"[^\W\d_a-z][\w'’-]*(?i:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|steig|pfad|chaussee|"
    r"laan|straat|gracht|plein|kade|singel|dijk|hof|park|pad|steeg|markt|dreef|wal|burgwal|kanaal|baan|"
    r"pleintje|erf|hoven|veld|akker|weide|boulevard|promenade|passage|zijde|straatje)"
)
_FR_WORD = (
    r"(?:rue|avenue|av\.|boulevard|bd|place|pl\.|allée|impasse|chemin|quai|route|cours|passage|square|"
    r"rond-point|voie|villa|cité|faubourg|sentier|esplanade|parvis|promenade|chaussée|lotissement)"
)
_CITY = r"(?:[^\W\d_a-z][\w'’-]*|['’]s-[^\W\d_][\w-]*|(?:de|del|la|le|les|di|da|do|sur|am|an|im|aan|den|bei|en|sul|sobre|sous|lès)(?=[ \t]))"
_POSTCODE_CITY = (r"(?:(?:D|F|E|I|NL|P|B)-)?(?:\d{5}|\d{4}[ \t]?[A-Z]{2}(?![\w])|\d{4}-\d{3})[ \t]{1,2}" + _CITY
                  + r"(?:[ \t-]{1,2}" + _CITY + r"){0,3}(?:[ \t]\([A-Z]{2}\))?")
_TAIL_REQUIRED = r",?(?:[ \t]{1,2}|[ \t]{0,2}\n[ \t]{0,4})" + _POSTCODE_CITY
_TAIL = r"(?:" + _TAIL_REQUIRED + r")?"
_CUE = (r"(?i:adresse|anschrift|wohnhaft|wohne[ \t]in|plz|code[ \t]postal|cp|domicile|habite[ \t]à|"
        r"dirección|direccion|domicilio|vivo[ \t]en|código[ \t]postal|morada|endereço|moro[ \t]em|"
        r"indirizzo|residenza|abito[ \t]a|cap|adres|woonadres|woon[ \t]in|woonplaats|postcode)")


class LetheEuAddressRecognizer(LetheRegexRecognizer):
    """Street lines (with their postcode and city) and cued postcodes of the six languages."""

    ENTITY = "LOCATION"
    PATTERNS = [
        # ``Am Kirchberg 7a`` reads like ``Am Montag 5``: the German form needs its postcode or a cue.
        ("de_prefix", r"(?<![\w'’.-])" + _DE_PREFIX + r"[ \t]{1,2}" + _DE_NAMES + r"[ \t]{1,2}" + _NUMBER
         + r"(?![\w])" + _TAIL_REQUIRED, 0.88),
        ("de_prefix_cued", _CUE + r"[^\n\d]{0,24}?(?<![\w'’.-])(?P<v>" + _DE_PREFIX + r"[ \t]{1,2}" + _DE_NAMES
         + r"[ \t]{1,2}" + _NUMBER + r"(?![\w]))", 0.85),
        ("romance_prefix", r"(?<![\w'’.-])" + _ROMANCE_PREFIX + r"[ \t]{1,2}" + _NAMES + r",?[ \t]{1,2}"
         + _NUMBER + r"(?![\w])" + _TAIL, 0.88),
        ("compound", r"(?<![\w'’.-])" + _COMPOUND + r",?[ \t]{1,2}" + _NUMBER + r"(?![\w])" + _TAIL, 0.9),
        ("fr_number_first", r"(?<![\w'’.,/-])\d{1,4}(?:[ \t]?(?:bis|ter|b)(?![\w]))?,?[ \t]{1,2}" + r"(?i:" + _FR_WORD
         + r")[ \t]{1,2}" + _NAMES + _TAIL, 0.9),
        ("cued_postcode", _CUE + r"[ \t]{0,2}:?[ \t]{0,2}(?P<v>" + _POSTCODE_CITY + r")", 0.8),
    ]

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102 - a number or ``S/N`` is needed
        if not any(c.isdigit() for c in text) and "/n" not in text.lower():
            return []  # skip the regex scans on text without a house number (most chat prose)
        return super().analyze(text, entities, nlp_artifacts)
