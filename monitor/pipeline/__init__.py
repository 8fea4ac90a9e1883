"""The pipeline, one way: poll -> ingest -> classify -> route -> deliver (outbox) -> queue.

Each step reads only what the step before it stored, so any step can be killed and run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alerts import build_channel
from alerts.base import Notifier
from core.settings import Secrets, Settings
from core.storage import Database
from core.storage.schema import utcnow
from models.base import Classifier
from monitor.pipeline.classify import QueryMatchers, classify_pending
from monitor.pipeline.deliver import Deliverer
from monitor.pipeline.ingest import PollOutcome, poll_source
from monitor.pipeline.route import route_pending
from sources.base import Source, SourceError

if TYPE_CHECKING:
    from monitor.pipeline.sweep import SweepOutcome

log = logging.getLogger(__name__)


#: Classifiers that read categories from the encoder and take per-brand heads learned from corrections.
ENCODER_KINDS = frozenset({"transformer", "multilingual"})


def build_classifier(settings: Settings) -> Classifier:
    """Build the configured classifier with the brands' urgency phrases, categories and learned heads on top."""
    from models import load_classifier
    from models.urgency import UrgencyRules

    urgency = UrgencyRules(per_brand={b.name: b.urgency_keywords for b in settings.brands if b.urgency_keywords})
    return load_classifier(settings.classifier.kind, urgency=urgency, **learned_options(settings))


#: Options only an encoder's categories read: dropped, with a warning, for a classifier that has no encoder.
ENCODER_CATEGORY_OPTIONS = frozenset({"model_categories", "learned_categories", "category_head", "ml_category_head"})


def learned_options(settings: Settings) -> dict[str, Any]:
    """Return the classifier options with the brands' own categories and their correction heads added.

    Brands that define `categories` turn on `model_categories` (categories read from the encoder, for every brand;
    their keywords stay as overrides); heads that `brandmon train --corrections` saved for a brand are loaded for it,
    and so are the relevance filters `brandmon train --relevance` kept for it (the one on e5's vectors too, under
    kind multilingual).
    """
    options = dict(settings.classifier.options)
    own = {b.name: [c.model_dump() for c in b.categories] for b in settings.brands if b.categories}
    if settings.classifier.kind not in ENCODER_KINDS:
        if own:
            log.warning("brands %s define categories, which the %s classifier cannot learn; they are ignored",
                        ", ".join(sorted(own)), settings.classifier.kind)
        # the example config turns categories from the encoder on; a model without one reads keywords
        encoder_only = sorted(set(options) & ENCODER_CATEGORY_OPTIONS)
        if encoder_only:
            log.warning("classifier.options %s need an encoder; the %s classifier reads categories from keywords",
                        ", ".join(encoder_only), settings.classifier.kind)
        return {k: v for k, v in options.items() if k not in ENCODER_CATEGORY_OPTIONS}
    if own:
        options.setdefault("model_categories", True)
        options["brand_categories"] = {**dict(options.get("brand_categories") or {}), **own}
    from models.corrections import brand_heads_file

    saved = {b.name: path for b in settings.brands
             if (path := brand_heads_file(settings.classifier.data_dir, b.name)).is_file()}
    if saved:
        options["brand_heads"] = {**dict(options.get("brand_heads") or {}), **saved}
    from models.category_corrections import saved_category_feedback, with_category_feedback

    # what the corrections taught the brands' categories (`brandmon train --corrections`) joins their categories
    options = with_category_feedback(options, saved_category_feedback(settings.classifier.data_dir,
                                                                      [b.name for b in settings.brands]))
    from models.relevance import ml_relevance_file, relevance_file

    kinds = [("relevance_filters", relevance_file)]
    if settings.classifier.kind == "multilingual":  # its e5 side has filters of its own, on e5's vectors
        kinds.append(("ml_relevance_filters", ml_relevance_file))
    for option, where in kinds:
        filters = {b.name: path for b in settings.brands
                   if b.own and (path := where(settings.classifier.data_dir, b.name)).is_file()}
        if filters:  # `brandmon train --relevance` kept them; the classifier marks the posts they hide
            options[option] = {**dict(options.get(option) or {}), **filters}
    return options


def build_sources(settings: Settings, *, secrets: Secrets | None = None) -> tuple[dict[str, Source], dict[str, str]]:
    """Build every enabled source; return (sources, errors by source name) so one broken network stops none."""
    from sources import build_source

    secrets = secrets if secrets is not None else Secrets.from_env()
    built: dict[str, Source] = {}
    errors: dict[str, str] = {}
    for config in settings.sources:
        if not config.enabled:
            continue
        brand = settings.brand(config.brand)
        try:
            # query, handles, accounts, communities and secrets reach only the sources whose constructor takes them
            accounts = {network: brand.accounts(network) for network in {*brand.handles, *brand.extra_handles}}
            built[config.name] = build_source(config.type, name=config.name, brand=config.brand, options=config.options,
                                              query=brand.query, handles=brand.handles, accounts=accounts,
                                              communities=brand.communities, secrets=secrets)
        except SourceError as exc:
            errors[config.name] = str(exc)
            log.error("source %s cannot start: %s", config.name, exc)
    return built, errors


def build_notifiers(settings: Settings, secrets: Secrets, *, db: Database | None = None,
                    sources: Mapping[str, Source] | None = None) -> dict[str, Notifier]:
    """Build the delivery channels the settings turn on; public replies need the database and the sources."""
    notifiers: dict[str, Notifier] = {}
    if db is not None and sources is not None:
        from monitor.queue.replies import ReplyNotifier

        notifiers["reply"] = ReplyNotifier(db, sources)
    if settings.slack.enabled:
        token = secrets.slack_bot_token.get_secret_value() if secrets.slack_bot_token else None
        notifiers["slack"] = build_channel("slack", token=token, base_url=settings.slack.base_url)
    return notifiers


class Pipeline:
    """Run each step of the loop against one database."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        classifier: Classifier,
        sources: Mapping[str, Source],
        notifiers: Mapping[str, Notifier],
        matchers: QueryMatchers | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.db = db
        self.classifier = classifier
        self.sources = dict(sources)
        self.matchers = matchers
        #: Brand -> "is this post in one of the brand's own communities?" (`brands[].communities`).
        self.communities = {b.name: b.in_community for b in settings.brands if b.communities}
        self.clock = clock
        self.deliverer = Deliverer(
            db,
            notifiers,
            messages_per_second=settings.slack.messages_per_second,
            max_attempts=settings.slack.max_attempts,
            in_doubt_after_s=settings.slack.in_doubt_after_s,
            clock=clock,
        )

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, *, secrets: Secrets | None = None,
                      classifier: Classifier | None = None) -> Pipeline:
        """Build sources, classifier and notifiers from settings and environment secrets."""
        secrets = secrets or Secrets.from_env()
        sources, _ = build_sources(settings, secrets=secrets)
        return cls(
            settings,
            db,
            classifier=classifier or build_classifier(settings),
            sources=sources,
            notifiers=build_notifiers(settings, secrets or Secrets.from_env(), db=db, sources=sources),
            matchers=_query_matchers(settings),
        )

    def poll(self, source_name: str) -> PollOutcome:
        """Poll one source, store what it returned and add the API usage it counted to today's total."""
        from core.storage.sources_tables import drain_source_usage

        source = self.sources[source_name]
        outcome = poll_source(self.db, source, now=self.clock())
        drain_source_usage(self.db, source, now=self.clock())
        return outcome

    def sweep(self, source_name: str) -> SweepOutcome:
        """Purge the source's stored posts that were deleted on its network (Reddit's terms)."""
        from core.storage.sources_tables import drain_source_usage
        from monitor.pipeline.sweep import sweep_deleted

        source = self.sources[source_name]
        outcome = sweep_deleted(self.db, source, now=self.clock())  # type: ignore[arg-type]
        drain_source_usage(self.db, source, now=self.clock())
        return outcome

    def classify(self, *, limit: int | None = None) -> int:
        """Classify stored mentions that have no scores yet."""
        return classify_pending(self.db, self.classifier, self.settings.sla, now=self.clock(),
                                batch_size=self.settings.classifier.batch_size, limit=limit, matchers=self.matchers,
                                communities=self.communities)

    def route(self) -> int:
        """Route classified mentions to alerts and the reply queue."""
        return route_pending(self.db, self.settings, now=self.clock())

    def detect_spikes(self) -> int:
        """Check each brand's volume and negative share against its baseline; queue spike messages."""
        from monitor.pipeline.route.spikes import check_spikes

        return check_spikes(self.db, self.settings, now=self.clock())

    def deliver(self, *, limit: int = 100) -> int:
        """Send due outbox rows through their notifiers."""
        return self.deliverer.deliver_due(limit=limit)

    def downstream(self) -> tuple[int, int, int]:
        """Run classify, route and deliver once each; return their counts."""
        return self.classify(), self.route(), self.deliver()


def _query_matchers(settings: Settings) -> QueryMatchers | None:
    """Build each brand's local query matcher when the query module is available."""
    try:
        from core.query import compile_matcher  # type: ignore[import-not-found]
    except ImportError:
        return None
    return {brand.name: compile_matcher(brand.query) for brand in settings.brands}


__all__ = ["Pipeline", "PollOutcome", "build_classifier", "build_notifiers", "build_sources", "learned_options"]
