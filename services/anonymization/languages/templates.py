"""Sentence frames for the generated evaluation sets of German, French, Spanish, Portuguese, Italian and
Dutch (``services.anonymization.generated.language_set``), written for this purpose by the project.

Placeholders: ``{NAME}``, ``{NAME2}`` (PERSON), ``{ADDRESS}`` (a street address with postcode and
city, STREET_ADDRESS), ``{PHONE}`` (PHONE_NUMBER), ``{IBAN}`` (IBAN_CODE), ``{ID}`` (the language's
national identifier, NATIONAL_ID). ``NEGATIVE`` frames hold no personal data: label words
(``Mein Name``, ``Sein Geburtsdatum``), order and invoice numbers, amounts, versions, dates; their
``{N}`` placeholders are filled with numbers of 1-2 digits, ``{ORDER}`` with order or invoice numbers
of 4-8 digits.
"""

from __future__ import annotations

FRAMES: dict[str, list[str]] = {
    "de": [
        "Hallo, ich heiße {NAME} und habe eine Frage zu meiner Rechnung.",
        "Mein Name ist {NAME}, meine Steuer-ID lautet {ID}.",
        "Bitte überweisen Sie den Betrag an Kontoinhaber: {NAME}, IBAN {IBAN}.",
        "Meine neue Adresse: {ADDRESS}. Bitte ändern Sie das im System.",
        "Sie erreichen mich unter {PHONE}, am besten vormittags.",
        "Sehr geehrte Frau {NAME},\nvielen Dank für Ihre Nachricht.\nMit freundlichen Grüßen\n{NAME2}",
        "Lieber {NAME}, kannst du mich zurückrufen? Meine Telefonnummer ist {PHONE}.\nViele Grüße\n{NAME2}",
        "Die Lieferung geht an {NAME}, {ADDRESS}.",
        "Herr {NAME} hat das Formular unterschrieben, Identifikationsnummer {ID}.",
    ],
    "fr": [
        "Bonjour, je m'appelle {NAME} et j'ai un problème avec ma commande.",
        "Mon numéro de sécurité sociale est {ID}, pouvez-vous vérifier mon dossier ?",
        "Le virement doit être fait au nom de {NAME}, IBAN {IBAN}.",
        "J'habite au {ADDRESS} depuis mars.",
        "Vous pouvez me joindre au {PHONE} après 18 heures.",
        "Chère {NAME},\nmerci pour votre message.\nCordialement,\n{NAME2}",
        "Madame {NAME} a appelé ce matin, son téléphone : {PHONE}.",
        "Titulaire : {NAME}\nAdresse : {ADDRESS}",
        "Mon collègue {NAME} viendra chercher le colis demain.",
    ],
    "es": [
        "Hola, me llamo {NAME} y necesito ayuda con mi cuenta.",
        "Mi DNI es {ID}, por favor actualicen mis datos.",
        "La transferencia está a nombre de {NAME}, IBAN {IBAN}.",
        "Mi dirección es {ADDRESS}.",
        "Pueden llamarme al {PHONE} por la tarde.",
        "Estimada {NAME}:\ngracias por su respuesta.\nUn saludo,\n{NAME2}",
        "El señor {NAME} vive en {ADDRESS} y su teléfono es {PHONE}.",
        "Titular: {NAME}, documento {ID}.",
        "Hola {NAME}, ¿puedes enviarme el contrato hoy?",
    ],
    "pt": [
        "Olá, chamo-me {NAME} e queria saber o estado da minha encomenda.",
        "O meu NIF é {ID}, podem emitir a fatura?",
        "O pagamento foi feito em nome de {NAME}, IBAN {IBAN}.",
        "A minha morada é {ADDRESS}.",
        "Liguem-me para o {PHONE}, por favor.",
        "Prezada {NAME},\nobrigado pelo contacto.\nCumprimentos,\n{NAME2}",
        "O senhor {NAME} mora na {ADDRESS}, telemóvel {PHONE}.",
        "Titular: {NAME}, contribuinte {ID}.",
        "Olá {NAME}, podes enviar-me os documentos?",
    ],
    "it": [
        "Buongiorno, mi chiamo {NAME} e vorrei un rimborso.",
        "Il mio codice fiscale è {ID}.",
        "Il bonifico è intestato a {NAME}, IBAN {IBAN}.",
        "Il mio indirizzo è {ADDRESS}.",
        "Potete chiamarmi al {PHONE} nel pomeriggio.",
        "Gentile {NAME},\ngrazie per la sua risposta.\nCordiali saluti\n{NAME2}",
        "La signora {NAME} abita in {ADDRESS}, cellulare {PHONE}.",
        "Intestatario: {NAME}, codice fiscale {ID}.",
        "Ciao {NAME}, mi mandi il contratto?",
    ],
    "nl": [
        "Hallo, ik heet {NAME} en ik heb een vraag over mijn factuur.",
        "Mijn BSN is {ID}, kunt u mijn gegevens controleren?",
        "Het bedrag moet naar rekeninghouder: {NAME}, IBAN {IBAN}.",
        "Mijn adres is {ADDRESS}.",
        "U kunt mij bellen op {PHONE}.",
        "Beste {NAME},\nbedankt voor je bericht.\nMet vriendelijke groet,\n{NAME2}",
        "Mevrouw {NAME} woont op {ADDRESS}, telefoon {PHONE}.",
        "De rekening staat op naam van {NAME}, burgerservicenummer {ID}.",
        "Geachte heer {NAME}, hierbij de gevraagde documenten.",
    ],
}

NEGATIVE: dict[str, list[str]] = {
    "de": [
        "Mein Name steht noch nicht im Formular. Sein Geburtsdatum fehlt auch.",
        "Bestellnummer {ORDER}, Betrag {N}{N},99 EUR, Lieferung in {N} Tagen.",
        "Kontoinhaber und Kontonummer bitte im Feld unten eintragen.",
        "Version {N}.{N}.{N} behebt den Fehler in Zeile {N}.",
        "Die Rechnung Nr. {ORDER} vom 12.03.2024 ist bezahlt.",
    ],
    "fr": [
        "Le nom du titulaire et la date de naissance sont obligatoires.",
        "Commande {ORDER}, montant {N},50 EUR, livraison sous {N} jours.",
        "Mon numéro de commande est {ORDER}, merci de vérifier.",
        "La version {N}.{N} corrige le bug de la ligne {N}.",
        "Facture {ORDER} réglée le 3 mars, référence interne {ORDER}.",
    ],
    "es": [
        "El nombre del titular y la fecha de nacimiento son obligatorios.",
        "Pedido {ORDER}, importe {N}{N},99 EUR, entrega en {N} días.",
        "Mi número de pedido es {ORDER}, gracias.",
        "La versión {N}.{N} corrige el error de la línea {N}.",
        "Factura {ORDER} pagada el 3 de marzo, referencia interna {ORDER}.",
    ],
    "pt": [
        "O nome do titular e a data de nascimento são obrigatórios.",
        "Encomenda {ORDER}, montante {N}{N},99 EUR, entrega em {N} dias.",
        "O meu número de encomenda é {ORDER}, obrigado.",
        "A versão {N}.{N} corrige o erro da linha {N}.",
        "Fatura {ORDER} paga a 3 de março, referência interna {ORDER}.",
    ],
    "it": [
        "Il nome dell'intestatario e la data di nascita sono obbligatori.",
        "Ordine {ORDER}, importo {N}{N},99 EUR, consegna in {N} giorni.",
        "Il mio numero d'ordine è {ORDER}, grazie.",
        "La versione {N}.{N} corregge l'errore alla riga {N}.",
        "Fattura {ORDER} pagata il 3 marzo, riferimento interno {ORDER}.",
    ],
    "nl": [
        "De naam van de rekeninghouder en de geboortedatum zijn verplicht.",
        "Bestelling {ORDER}, bedrag {N}{N},99 EUR, levering binnen {N} dagen.",
        "Mijn bestelnummer is {ORDER}, bedankt.",
        "Versie {N}.{N} lost de fout in regel {N} op.",
        "Factuur {ORDER} betaald op 3 maart, interne referentie {ORDER}.",
    ],
}
