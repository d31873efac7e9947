"""Words that are never a person's or a place's name in German, French, Spanish, Portuguese, Italian
and Dutch: function words (spaCy's stop-word lists for each language, which need no model),
greetings, and the labels of form fields and identifiers (``Name``, ``Geburtsdatum``,
``Kontoinhaber``, ``Steuer-ID``, ``adresse``, ``titular``, ``BSN``...).

German writes nouns with a capital and compounds them, so a German word also counts as a label when
it ends in a label noun (``Geburts|datum``, ``Konto|inhaber``, ``Telefon|nummer``).
"""

from __future__ import annotations

import importlib
from functools import lru_cache

_LABELS = {
    "de": """name namen vorname nachname familienname geburtsname adresse anschrift wohnort straße strasse
        hausnummer plz postleitzahl ort stadt land telefon handy mobil fax email e-mail datum geburtsdatum
        geburtstag geburtsort alter geschlecht inhaber kontoinhaber konto kontonummer iban bic bank
        steuer-id steuernummer steueridentifikationsnummer identifikationsnummer ausweis personalausweis
        reisepass staatsangehörigkeit nationalität beruf unterschrift kunde kundin kundennummer
        rechnung rechnungsnummer bestellung bestellnummer vertrag vertragsnummer überweisung zahlung
        betrag empfänger absender betreff anfrage antwort termin hallo servus moin grüße gruß""",
    "fr": """nom prénom prenom adresse domicile ville pays téléphone telephone portable courriel email
        date naissance âge sexe titulaire compte iban bic banque nir numéro numero sécurité securite
        sociale carte identité passeport nationalité profession signature client cliente facture
        commande contrat virement paiement montant destinataire expéditeur objet demande réponse
        rendez-vous bonjour bonsoir salut merci cordialement""",
    "es": """nombre apellido apellidos dirección direccion domicilio ciudad país pais teléfono telefono móvil
        movil correo fecha nacimiento edad sexo titular cuenta iban bic banco dni nie nif documento
        identidad pasaporte nacionalidad profesión firma cliente factura pedido contrato
        transferencia pago importe destinatario remitente asunto solicitud respuesta cita hola gracias
        saludos""",
    "pt": """nome apelido sobrenome morada endereço endereco cidade país pais telefone telemóvel telemovel
        celular correio email data nascimento idade sexo titular conta iban bic banco nif contribuinte
        cartão cartao cidadão cidadao passaporte nacionalidade profissão assinatura cliente fatura
        encomenda pedido contrato transferência transferencia pagamento montante destinatário
        remetente assunto pedido resposta olá ola obrigado obrigada cumprimentos""",
    "it": """nome cognome indirizzo residenza città citta paese telefono cellulare email data nascita età
        sesso intestatario titolare conto iban bic banca codice fiscale carta identità passaporto
        nazionalità professione firma cliente fattura ordine contratto bonifico pagamento importo
        destinatario mittente oggetto richiesta risposta appuntamento ciao salve grazie saluti""",
    "nl": """naam voornaam achternaam adres woonplaats straat postcode plaats land telefoon mobiel e-mail
        email datum geboortedatum geboorteplaats leeftijd geslacht rekeninghouder rekening
        rekeningnummer iban bic bank bsn burgerservicenummer paspoort identiteitskaart nationaliteit
        beroep handtekening klant factuur bestelling contract overschrijving betaling bedrag
        ontvanger afzender onderwerp aanvraag antwoord afspraak hallo hoi bedankt groeten""",
}
# German label nouns that end compounds (``Geburtsdatum``, ``Kontoinhaber``, ``Kundennummer``).
_DE_SUFFIXES = ("name", "namen", "datum", "nummer", "inhaber", "inhaberin", "adresse", "anschrift", "ort",
                "id", "nr", "tag", "angabe", "angaben", "daten", "betrag", "zahlung", "vertrag")


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
    if w in _labels(lang):
        return True
    return lang == "de" and len(w) > 4 and w.endswith(_DE_SUFFIXES) and w[0].isalpha()


def is_not_name(word: str, lang: str) -> bool:
    """True when ``word`` is a function word or a label in ``lang`` (so never a name by itself)."""
    return word.lower().strip(".:,;") in stop_words(lang) or is_label(word, lang)
