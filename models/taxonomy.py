"""The built-in category taxonomy: a description and example posts per category, written for brandmon.

Categories are scored from the encoder's embeddings (see `models.categories`), not from keyword lists, so
these sentences only need to say what each kind of post is about in several everyday ways. A brand adds its own
categories in the same shape (`{name, description, examples, weight}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """One category: what it means, posts that belong to it, and how urgent it is on its own (0 to 1)."""

    name: str
    description: str
    examples: tuple[str, ...] = field(default_factory=tuple)
    weight: float = 0.5

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"category name {self.name!r} must be letters, digits, '_' or '-'")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"category {self.name!r}: weight must be in [0, 1], got {self.weight}")
        if not self.description.strip() and not self.examples:
            raise ValueError(f"category {self.name!r} needs a description or examples")


BUILTIN_CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec(
        "safety",
        "A product or service hurt someone or could: fire, smoke, burns, electric shock, injury, illness, "
        "food poisoning, allergic reaction, a foreign object in food.",
        (
            "my phone charger melted and started smoking next to the bed",
            "the battery swelled up and burned my hand",
            "found a piece of glass in my salad, could have choked",
            "my whole family got food poisoning after eating your chicken",
            "the heater sparked and gave me an electric shock",
            "there was peanut in it even though the label says nut free, my son had a reaction",
            "the scooter brakes failed and I ended up in hospital",
            "this kettle leaks boiling water onto the counter, somebody will get scalded",
        ),
        weight=1.0,
    ),
    CategorySpec(
        "legal",
        "The customer threatens legal action or a regulator, mentions a lawyer, fraud, discrimination, "
        "a data protection breach or their legal rights.",
        (
            "I'm speaking to my lawyer about this tomorrow",
            "you leaked my personal data, I'm reporting you to the data protection regulator",
            "see you in small claims court",
            "this is fraud and I'll be filing a complaint with the ombudsman",
            "your staff refused to serve me because of my wheelchair, that is discrimination",
            "I know my consumer rights and you are breaking the law",
            "we are starting a class action over these hidden fees",
        ),
        weight=0.9,
    ),
    CategorySpec(
        "outage",
        "A service is down or disrupted for the customer: no signal, no internet, the app or website will not "
        "load or keeps crashing, a system error.",
        (
            "no signal at all in the whole town since this morning",
            "is your website down? it just shows an error page",
            "the app crashes every time I open it",
            "internet has been dropping every ten minutes all day",
            "none of your cash machines are working today",
            "streaming keeps buffering and then stops completely",
            "can't make any calls, the network seems to be out",
            "checkout page won't load, tried three browsers",
        ),
        weight=0.8,
    ),
    CategorySpec(
        "account_access",
        "The customer cannot get into or control their account: login fails, password reset, locked or "
        "suspended account, two-factor codes, a hacked account.",
        (
            "I can't log in to my account, it says my password is wrong",
            "the password reset email never arrives",
            "my account was locked for no reason",
            "I think someone hacked my account and changed the email",
            "not getting the verification code by text",
            "you suspended my account and nobody will tell me why",
            "how do I get back into my old account?",
        ),
        weight=0.6,
    ),
    CategorySpec(
        "billing",
        "Money: being charged wrongly or twice, a refund, an invoice, a price or fee, payment that failed, "
        "a subscription charge.",
        (
            "you charged my card twice for the same order",
            "still waiting for my refund after three weeks",
            "why is my bill twenty pounds higher this month?",
            "my payment keeps getting declined at checkout",
            "I was charged a cancellation fee nobody told me about",
            "my subscription renewed without warning and took the money",
            "can you send me an invoice for last month",
        ),
        weight=0.6,
    ),
    CategorySpec(
        "delivery",
        "An order or delivery: it is late, lost, missing items, wrong item, tracking, courier, collection, "
        "a booking or reservation that went wrong.",
        (
            "my parcel was supposed to arrive yesterday and tracking hasn't moved",
            "the courier says delivered but nothing is here",
            "ordered three items and only two came",
            "you sent me the wrong size",
            "my food order is an hour late",
            "when will my order ship?",
            "the driver left my package in the rain",
        ),
        weight=0.5,
    ),
    CategorySpec(
        "product_defect",
        "A product is broken, faulty or poor quality: it stopped working, arrived damaged, a fault, a bug in a "
        "device, food that was stale or wrong.",
        (
            "the screen cracked after one week of normal use",
            "my headphones stopped charging after a month",
            "the box arrived crushed and the lamp inside is broken",
            "the bread was mouldy when I opened it",
            "the zip broke the first time I wore the jacket",
            "since the update my phone's camera is blurry",
            "the washing machine makes a grinding noise and leaks",
        ),
        weight=0.5,
    ),
    CategorySpec(
        "churn_risk",
        "The customer says they will leave, cancel, switch to a competitor or never buy again.",
        (
            "I'm cancelling my contract and going to another provider",
            "that's it, I'm switching banks",
            "never flying with you again",
            "how do I close my account?",
            "done with this company, taking my business elsewhere",
            "thinking about moving to a different network when my deal ends",
            "unsubscribe me, I don't want your service any more",
        ),
        weight=0.7,
    ),
    CategorySpec(
        "other",
        "A complaint or problem about customer service, staff, waiting, rudeness or anything not in another "
        "category.",
        (
            "been on hold for an hour and nobody picks up",
            "the staff at your store were so rude to me",
            "I've emailed three times and had no answer",
            "your chat bot is useless and keeps going in circles",
            "the queue at the branch was out the door",
        ),
        weight=0.3,
    ),
)
