"""Words that are never a person's or a place's name in German, French, Spanish, Portuguese, Italian
and Dutch: function words (spaCy's stop-word lists for each language, which need no model),
greetings and sign-offs (``Buongiorno``, ``Cordiali saluti``, ``Mit freundlichen Grüßen``,
``Met vriendelijke groet``), and the labels of form fields and identifiers (``Name``, ``Geburtsdatum``,
``Kontoinhaber``, ``Steuer-ID``, ``adresse``, ``titular``, ``BSN``...).

German writes nouns with a capital and compounds them, so a German word also counts as a label when
it ends in a label noun (``Geburts|datum``, ``Konto|inhaber``, ``Telefon|nummer``).
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache

_LABELS = {
    "de": """name namen vorname nachname familienname geburtsname adresse anschrift wohnort straße strasse
        hausnummer plz postleitzahl ort stadt land telefon handy mobil fax email e-mail datum geburtsdatum
        geburtstag geburtsort alter geschlecht inhaber kontoinhaber konto kontonummer iban bic bank
        steuer-id steuernummer steueridentifikationsnummer identifikationsnummer ausweis personalausweis
        reisepass staatsangehörigkeit nationalität beruf unterschrift kunde kundin kundennummer
        rechnung rechnungsnummer bestellung bestellnummer vertrag vertragsnummer überweisung zahlung
        betrag empfänger absender betreff anfrage antwort termin hallo servus moin grüße gruß liebe lieber
        sehr geehrte geehrter guten freundlichen freundliche herzliche herzlichen grüßen grüssen""",
    "fr": """nom prénom prenom adresse domicile ville pays téléphone telephone portable courriel email
        date naissance âge sexe titulaire compte iban bic banque nir numéro numero sécurité securite
        sociale carte identité passeport nationalité profession signature client cliente facture
        commande contrat virement paiement montant destinataire expéditeur objet demande réponse
        rendez-vous bonjour bonsoir salut merci cordialement cher chère salutations amicalement""",
    "es": """nombre apellido apellidos dirección direccion domicilio ciudad país pais teléfono telefono móvil
        movil correo fecha nacimiento edad sexo titular cuenta iban bic banco dni nie nif documento
        identidad pasaporte nacionalidad profesión firma cliente factura pedido contrato
        transferencia pago importe destinatario remitente asunto solicitud respuesta cita hola gracias
        saludos estimado estimada querido querida atentamente cordiales cordial saludo buenos buenas""",
    "pt": """nome apelido sobrenome morada endereço endereco cidade país pais telefone telemóvel telemovel
        celular correio email data nascimento idade sexo titular conta iban bic banco nif contribuinte
        cartão cartao cidadão cidadao passaporte nacionalidade profissão assinatura cliente fatura
        encomenda pedido contrato transferência transferencia pagamento montante destinatário
        remetente assunto pedido resposta olá ola obrigado obrigada cumprimentos prezado prezada caro
        cara atenciosamente cordialmente bom boa""",
    "it": """nome cognome indirizzo residenza città citta paese telefono cellulare email data nascita età
        sesso intestatario titolare conto iban bic banca codice fiscale carta identità passaporto
        nazionalità professione firma cliente fattura ordine contratto bonifico pagamento importo
        destinatario mittente oggetto richiesta risposta appuntamento ciao salve grazie saluti gentile
        egregio caro cara cordiali distinti buongiorno buonasera arrivederci""",
    "nl": """naam voornaam achternaam adres woonplaats straat postcode plaats land telefoon mobiel e-mail
        email datum geboortedatum geboorteplaats leeftijd geslacht rekeninghouder rekening
        rekeningnummer iban bic bank bsn burgerservicenummer paspoort identiteitskaart nationaliteit
        beroep handtekening klant factuur bestelling contract overschrijving betaling bedrag
        ontvanger afzender onderwerp aanvraag antwoord afspraak hallo hoi bedankt groeten beste geachte
        heer mevrouw vriendelijke hartelijke groet goedemorgen goedemiddag goedenavond""",
}
_CLITICS = frozenset("m' j' t' s' n' c' m’ j’ t’ s’ n’ c’".split())
# Units and currencies: a number's unit is never a name or a place (``14 Tagen``, ``77,50 EUR``).
_UNITS = frozenset("""eur euro euros usd chf gbp tag tage tagen woche wochen monat monate monaten jahr jahre jahren
    stunde stunden minute minuten jour jours semaine semaines mois an ans année années heure heures día días
    semana semanas mes meses año años hora horas dia dias ano anos giorno giorni settimana settimane mese mesi
    anno anni ora ore dag dagen week weken maand maanden jaar jaren uur stuk stück version versie versión
    versão versione""".split())
# Words naming an order, invoice or customer reference in the six languages, shortly before a number:
# ``Mon numéro de commande est 48213577``, ``numero d'ordine è 4821357``, ``Bestellnummer 48213``.
_REFERENCE_BEFORE = re.compile(
    r"(?i)(?<![\w-])(?:\w{0,12}(?:bestell|auftrags|rechnungs|kunden|vertrags|vorgangs|referenz)\w{0,8}|commande|facture|"
    r"référence|dossier|pedido|factura|referencia|expediente|encomenda|fatura|referência|processo|ordine|"
    r"fattura|riferimento|pratica|bestelling|bestelnummer|factuur|referentie|klantnummer|ordernummer)"
    r"(?![\w-])[^\n\d]{0,20}$"
)


def reference_before(text: str, start: int) -> bool:
    """True when an order/invoice/customer-reference word of the six languages is in the 40 code
    points before ``start`` (on the same line): the number there is a reference, not a telephone."""
    return _REFERENCE_BEFORE.search(text, max(0, start - 40), start) is not None


# German label nouns that end compounds (``Geburtsdatum``, ``Kontoinhaber``, ``Kundennummer``).
_DE_SUFFIXES = ("name", "namen", "datum", "nummer", "inhaber", "inhaberin", "adresse", "anschrift", "ort",
                "id", "nr", "tag", "angabe", "angaben", "daten", "betrag", "zahlung", "vertrag")


# Articles, article-preposition contractions and possessives: a single capitalised word right after one is a noun
# (``im Feld``, ``den Fehler``, ``Ihre Nachricht``), not a person's name.
ARTICLES = {
    "de": frozenset("der die das dem den des ein eine einem einen einer eines im am zum zur vom beim ins mein meine meinen meinem meiner dein deine ihr ihre ihren ihrem ihrer sein seine seinen seinem unser unsere".split()),
    "fr": frozenset("le la les un une du des au aux l' l’ mon ma mes ton ta tes son sa ses notre votre nos vos leur leurs".split()),
    "es": frozenset("el la los las un una unos unas del al mi mis tu tus su sus nuestro nuestra".split()),
    "pt": frozenset("o a os as um uma uns umas do da dos das no na nos nas ao aos meu minha meus minhas teu tua seu sua nosso nossa".split()),
    "it": frozenset("il lo la i gli le un uno una del dello della dei degli delle nel nello nella al allo alla mio mia miei mie tuo tua suo sua nostro nostra".split()),
    "nl": frozenset("het een mijn jouw uw zijn haar onze hun".split()),
}
# German nouns by their suffix (``Lieferung``, ``Gesundheit``, ``Mannschaft``, ``Station``).
_DE_NOUN_SUFFIXES = ("ung", "heit", "keit", "schaft", "tion", "tät", "ismus", "nis", "ment", "ität", "chen")


def is_common_noun(word: str, previous: str, lang: str) -> bool:
    """True when ``word`` (one capitalised word) reads as a common noun: after an article of ``lang``,
    or, in German, by a noun suffix (words of six letters or more: ``Jung`` stays a name)."""
    if previous.lower() in ARTICLES.get(lang, ()):
        return True
    return lang == "de" and len(word) >= 6 and word.lower().endswith(_DE_NOUN_SUFFIXES)


@lru_cache(maxsize=None)
def stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop words for ``lang`` (lower case); empty for an unsupported language."""
    try:
        return frozenset(importlib.import_module(f"spacy.lang.{lang}.stop_words").STOP_WORDS)
    except ImportError:
        return frozenset()


@lru_cache(maxsize=None)
def _labels(lang: str) -> frozenset[str]:
    return frozenset(_LABELS.get(lang, "").split())


def is_label(word: str, lang: str) -> bool:
    """True when ``word`` labels a field in ``lang`` (``Geburtsdatum``, ``titular``, ``Steuer-ID``)."""
    w = word.lower().strip(".:,;")
    if w[:2] in _CLITICS or w[:3] in ("qu'", "qu’"):
        return True  # ``m'appelle``, ``j'habite``, ``c'est``: a pronoun and its verb
    if w[:2] in ("d'", "l'", "d’", "l’"):
        w = w[2:]  # ``d'ordine``, ``l'adresse``
    if w in _labels(lang) or w in _UNITS:
        return True
    return lang == "de" and len(w) > 4 and w.endswith(_DE_SUFFIXES) and w[0].isalpha()


def is_not_name(word: str, lang: str) -> bool:
    """True when ``word`` is a function word or a label in ``lang`` (so never a name by itself)."""
    return word.lower().strip(".:,;") in stop_words(lang) or is_label(word, lang)
