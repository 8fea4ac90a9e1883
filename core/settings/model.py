"""The whole settings tree read from one config file."""

from __future__ import annotations

from pydantic import Field, model_validator

from core.settings.base import DEFAULT_DATABASE_URL, _Model
from core.settings.brands import BrandSettings, ClassifierSettings, SourceSettings
from core.settings.cases import CaseSettings
from core.settings.queue import QueueSettings, WebSettings
from core.settings.schedule import DigestSettings, SchedulerSettings
from core.settings.sla import SlaSettings
from core.settings.slack import SlackSettings
from core.settings.translation import TranslationSettings


class Settings(_Model):
    """Everything brandmon reads from its config file."""

    database_url: str = DEFAULT_DATABASE_URL
    brands: list[BrandSettings] = Field(min_length=1)
    sources: list[SourceSettings] = Field(default_factory=list)
    classifier: ClassifierSettings = ClassifierSettings()
    slack: SlackSettings = SlackSettings()
    sla: SlaSettings = SlaSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    queue: QueueSettings = QueueSettings()
    web: WebSettings = WebSettings()
    digest: DigestSettings = DigestSettings()
    cases: CaseSettings = CaseSettings()
    translation: TranslationSettings = TranslationSettings()

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        names = [b.name for b in self.brands]
        for i, brand in enumerate(self.brands):
            if names.count(brand.name) > 1:
                raise ValueError(f"brands[{i}].name: duplicate brand {brand.name!r}")
            for competitor in brand.competitors:
                if competitor not in names:
                    raise ValueError(f"brands[{i}].competitors: {competitor!r} is not a configured brand")
        seen: set[str] = set()
        for i, source in enumerate(self.sources):
            if source.brand not in names:
                raise ValueError(f"sources[{i}].brand: {source.brand!r} is not a configured brand")
            if source.name in seen:
                raise ValueError(f"sources[{i}].name: duplicate source {source.name!r}")
            seen.add(source.name)
        return self

    def brand(self, name: str) -> BrandSettings:
        """Return the brand called `name`."""
        for brand in self.brands:
            if brand.name == name:
                return brand
        raise KeyError(name)
