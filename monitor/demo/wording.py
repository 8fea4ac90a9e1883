"""What the demo's responders write: short personal replies by topic and language, signed with their name.

Written for the project. Each text takes `{first}` (the customer's first name as `first_name` finds it) and
`{me}` (the responder); several variants per topic keep a week of replies from reading like one form letter.
"""

from __future__ import annotations

import random

from monitor.queue.replies import first_name

#: (language, topic) -> variants. Topics follow the classifier's urgency categories, plus "question", "answer"
#: (anything else), "welcome" (the customer says it is fixed) and "thank" (praise; in English the team sends the
#: configured thank-you, and this one only to an account with no display name).
TEXTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("en", "billing"): (
        "Hi {first}, sorry about that charge. I've checked your account and raised a refund for the difference; "
        "it should reach you in 3-5 working days. – {me}",
        "Thanks for flagging this, {first}. That charge shouldn't be there: I've reversed it today and added a note "
        "so it doesn't happen again. – {me}",
    ),
    ("en", "outage"): (
        "Hi {first}, really sorry. There's a network fault affecting calls and data and our engineers are on it "
        "now. We'll post here the moment service is back. – {me}",
        "Sorry {first}, you're not alone: it's a wider network fault and the team is working on it. Updates are "
        "on our status page. – {me}",
    ),
    ("en", "delivery"): (
        "Hi {first}, sorry your order hasn't turned up. I've opened a trace with the courier and will update you "
        "by tomorrow; if it's lost we'll send a replacement straight away. – {me}",
    ),
    ("en", "account_access"): (
        "Hi {first}, sorry you're locked out. I've reset the verification on your account, so please try again "
        "now and reply here if the code still doesn't arrive. – {me}",
    ),
    ("en", "safety"): (
        "{first}, thank you for telling us, and please stop using it for now. I've sent you a DM so our safety "
        "team can sort this with you today. – {me}",
    ),
    ("en", "legal"): (
        "Hi {first}, I'm sorry it has come to this. I'd like to put it right: I've sent you a DM so we can go "
        "through everything together today. – {me}",
    ),
    ("en", "churn_risk"): (
        "Hi {first}, I'm sorry we've let you down. Before you decide, give me a chance to fix it: I've sent you a "
        "DM so we can look at your account together. – {me}",
    ),
    ("en", "product_defect"): (
        "Hi {first}, sorry it's playing up. Could you DM us the model and what you've tried so far? If it's a "
        "fault we'll arrange a repair or a replacement. – {me}",
    ),
    ("en", "answer"): (
        "Hi {first}, thanks for getting in touch. I've sent you a DM with the steps for your account; shout if "
        "anything's unclear. – {me}",
        "Thanks {first}, I hear you. I've passed this to the right team and sent you a DM so we can follow it "
        "up properly. – {me}",
        "Hi {first}, sorry about this. I've had a look and sent you a DM with what we can do; it shouldn't take "
        "long to sort. – {me}",
    ),
    ("en", "question"): (
        "Good question, {first}! I've DM'd you the details for your plan so you don't have to dig through the "
        "help pages. – {me}",
        "Hi {first}, yes, we can help with that. I've sent you a DM with the steps for your account. – {me}",
    ),
    ("en", "thank"): ("Thank you, {first}! That's made the team's day. – {me}",),
    ("en", "welcome"): (
        "Glad it's sorted, {first}! Thanks for letting us know. – {me}",
        "Great to hear, {first}. Thanks for your patience with us. – {me}",
    ),
    ("es", "answer"): (
        "Hola {first}, gracias por escribirnos. Te he enviado un mensaje privado con los pasos para "
        "solucionarlo. – {me}",
    ),
    ("es", "outage"): (
        "Hola {first}, lo sentimos mucho: hay una avería en la red y nuestros técnicos ya están trabajando en "
        "ella. – {me}",
    ),
    ("es", "billing"): (
        "Hola {first}, disculpa el cobro. Ya he tramitado el reembolso; lo verás en 3-5 días laborables. – {me}",
    ),
    ("es", "thank"): ("¡Muchas gracias, {first}! Nos alegra mucho leerlo. – {me}",),
    ("es", "welcome"): ("¡Qué bien, {first}! Gracias por contárnoslo. – {me}",),
    ("fr", "answer"): (
        "Bonjour {first}, merci de nous avoir écrit. Je vous ai envoyé un message privé avec la marche à "
        "suivre. – {me}",
    ),
    ("fr", "outage"): (
        "Bonjour {first}, toutes nos excuses : une panne touche notre réseau et nos techniciens sont "
        "dessus. – {me}",
    ),
    ("fr", "billing"): (
        "Bonjour {first}, désolée pour ce prélèvement. Le remboursement est lancé, comptez 3 à 5 jours "
        "ouvrés. – {me}",
    ),
    ("fr", "delivery"): (
        "Bonjour {first}, désolée pour ce colis. J'ai ouvert une enquête auprès du transporteur et je reviens "
        "vers vous demain. – {me}",
    ),
    ("fr", "thank"): ("Merci beaucoup, {first} ! Ça fait plaisir à toute l'équipe. – {me}",),
    ("fr", "welcome"): ("Ravie que ce soit réglé, {first} ! Merci de nous avoir tenus au courant. – {me}",),
    ("de", "answer"): (
        "Hallo {first}, danke für deine Nachricht. Ich habe dir per DM geschickt, wie es weitergeht. – {me}",
    ),
    ("de", "outage"): (
        "Hallo {first}, das tut uns sehr leid: Es gibt eine Störung im Netz, unsere Technik arbeitet schon "
        "daran. – {me}",
    ),
    ("de", "billing"): (
        "Hallo {first}, sorry für die falsche Abbuchung. Die Erstattung ist veranlasst und kommt in 3-5 "
        "Werktagen. – {me}",
    ),
    ("de", "thank"): ("Vielen Dank, {first}! Das freut das ganze Team. – {me}",),
    ("de", "welcome"): ("Schön, dass es jetzt klappt, {first}! Danke für die Rückmeldung. – {me}",),
    ("pt", "answer"): (
        "Olá {first}, obrigada pela mensagem. Enviei-lhe uma mensagem privada com os passos a seguir. – {me}",
    ),
    ("pt", "outage"): (
        "Olá {first}, pedimos desculpa: há uma avaria na rede e os nossos técnicos já estão a tratar "
        "dela. – {me}",
    ),
    ("pt", "billing"): (
        "Olá {first}, lamentamos a cobrança em duplicado. O reembolso já foi pedido e chega em 3 a 5 dias "
        "úteis. – {me}",
    ),
    ("pt", "thank"): ("Muito obrigada, {first}! Ficamos muito contentes. – {me}",),
    ("pt", "welcome"): ("Que bom, {first}! Obrigada por nos avisar. – {me}",),
}


def customer_name(author_name: str, handle: str, network: str) -> str:
    """Return how a responder greets the customer: their first name, capitalised, or else their account."""
    if author_name.strip().lower() in ("", handle.lower()):  # no display name: a Reddit user, say
        return f"u/{handle}" if network == "reddit" else f"@{handle}"
    name = first_name(author_name, handle)
    return name if name.startswith("@") or not name.islower() else name[:1].upper() + name[1:]


def compose(topic: str, *, language: str, author_name: str, handle: str, network: str, responder: str,
            rng: random.Random) -> str:
    """Write a reply on `topic` in `language` (English when there is no text in it) for one customer."""
    variants = TEXTS.get((language, topic)) or TEXTS.get((language, "answer")) if language != "en" else None
    variants = variants or TEXTS.get(("en", topic)) or TEXTS[("en", "answer")]
    return rng.choice(variants).format(first=customer_name(author_name, handle, network), me=responder)


def speaks(language: str | None) -> str:
    """Return the language a reply is written in: the post's when the demo has texts in it, else English."""
    return language if language and (language, "answer") in TEXTS else "en"
