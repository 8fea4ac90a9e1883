"""The pipeline, one way: poll -> ingest -> classify -> route -> deliver (outbox) -> queue.

Each step reads only what the step before it stored, so any step can be killed and run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from alerts.base import Notifier
from models.base import Classifier
from monitor.pipeline.classify import QueryMatchers, classify_pending
from monitor.pipeline.deliver import Deliverer
from monitor.pipeline.ingest import PollOutcome, poll_source
from monitor.pipeline.route import route_pending
from monitor.settings import Secrets, Settings
from monitor.storage import Database
from monitor.storage.schema import utcnow
from sources.base import Source, SourceError

log = logging.getLogger(__name__)


def build_classifier(settings: Settings) -> Classifier:
    """Build the configured classifier with the brands' urgency phrases on top of the model."""
    from models import load_classifier
    from models.urgency import UrgencyRules

    urgency = UrgencyRules(per_brand={b.name: b.urgency_keywords for b in settings.brands if b.urgency_keywords})
    return load_classifier(settings.classifier.kind, urgency=urgency, **settings.classifier.options)


def build_sources(settings: Settings) -> tuple[dict[str, Source], dict[str, str]]:
    """Build every enabled source; return (sources, errors by source name) so one broken network stops none."""
    from sources import build_source

    built: dict[str, Source] = {}
    errors: dict[str, str] = {}
    for config in settings.sources:
        if not config.enabled:
            continue
        try:
            built[config.name] = build_source(config.type, name=config.name, brand=config.brand, options=config.options)
        except SourceError as exc:
            errors[config.name] = str(exc)
            log.error("source %s cannot start: %s", config.name, exc)
    return built, errors


def build_notifiers(settings: Settings, secrets: Secrets) -> dict[str, Notifier]:
    """Build the delivery channels the settings turn on."""
    notifiers: dict[str, Notifier] = {}
    if settings.slack.enabled:
        from alerts.slack import SlackNotifier

        token = secrets.slack_bot_token.get_secret_value() if secrets.slack_bot_token else None
        notifiers["slack"] = SlackNotifier(token=token, base_url=settings.slack.base_url)
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
        sources, _ = build_sources(settings)
        return cls(
            settings,
            db,
            classifier=classifier or build_classifier(settings),
            sources=sources,
            notifiers=build_notifiers(settings, secrets or Secrets.from_env()),
            matchers=_query_matchers(settings),
        )

    def poll(self, source_name: str) -> PollOutcome:
        """Poll one source and store what it returned."""
        return poll_source(self.db, self.sources[source_name], now=self.clock())

    def classify(self, *, limit: int | None = None) -> int:
        """Classify stored mentions that have no scores yet."""
        return classify_pending(self.db, self.classifier, self.settings.sla, now=self.clock(),
                                batch_size=self.settings.classifier.batch_size, limit=limit, matchers=self.matchers)

    def route(self) -> int:
        """Route classified mentions to alerts and the reply queue."""
        return route_pending(self.db, self.settings, now=self.clock())

    def deliver(self, *, limit: int = 100) -> int:
        """Send due outbox rows through their notifiers."""
        return self.deliverer.deliver_due(limit=limit)

    def downstream(self) -> tuple[int, int, int]:
        """Run classify, route and deliver once each; return their counts."""
        return self.classify(), self.route(), self.deliver()


def _query_matchers(settings: Settings) -> QueryMatchers | None:
    """Build each brand's local query matcher when the query module is available."""
    try:
        from sources.query import compile_matcher  # type: ignore[import-not-found]
    except ImportError:
        return None
    return {brand.name: compile_matcher(brand.query) for brand in settings.brands}


__all__ = ["Pipeline", "PollOutcome", "build_classifier", "build_notifiers", "build_sources"]
