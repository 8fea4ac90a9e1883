"""Spanish posts for the e5 relevance-filter tests (written by us): Kestrel Mobile's customers and namesakes in Spanish.

The query "kestrel" also catches Spanish posts about a band called Kestrel and birdwatchers naming the falcon; the
responders mark those not relevant and answer the customers, as in `tests/support/relevance.py`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import update

from core.settings import Settings
from core.storage import Database
from core.storage.schema import ClassificationRow
from models.relevance import Click
from monitor.queue.items import set_status
from tests.support.queue import Labels, post, seed
from tests.support.relevance import texts

CUSTOMER_ES = (
    "@KestrelMobile me han cobrado {n} euros de itinerancia que nunca usé, por favor revisad mi factura",
    "@KestrelMobile llevo {n} horas sin cobertura en casa, ¿hay una avería en la zona?",
    "@KestrelMobile quiero darme de baja, llevo {n} minutos esperando al teléfono y nadie contesta",
    "@KestrelMobile mi tarjeta SIM nueva sigue sin activarse después de {n} horas, ¿me podéis ayudar?",
    "@KestrelMobile se me acabaron los datos el día {n} del mes y casi no los he usado, no lo entiendo",
    "@KestrelMobile la aplicación me cierra la sesión cada {n} minutos y no puedo recargar el saldo",
)
NAMESAKE_ES = (
    "Anoche vimos a Kestrel en la sala {n} de Madrid, qué concierto tan bueno, el guitarrista es increíble",
    "Un kestrel (cernícalo) se quedó quieto en el aire {n} segundos sobre la cuneta antes de lanzarse, precioso",
    "El nuevo disco de Kestrel tiene {n} canciones y todas me encantan, lo escucho en bucle",
    "En la caja nido de este año hay {n} pollos de kestrel, la cámara los enseña comiendo #aves",
    "Fotografié un kestrel hembra con un ratón a {n} metros, muy contento con la foto #naturaleza",
    "Entradas para la gira de Kestrel a la venta el día {n}, ¿alguien viene conmigo al concierto?",
)


def clicks_es(relevant: int, not_relevant: int, *, start: int = 1, first_id: int = 1) -> list[Click]:
    """Return Spanish labelled posts as `load_clicks` gives them: customers relevant, namesakes not relevant."""
    rows = [Click(id=first_id + i, text=t, not_relevant=False, language="es")
            for i, t in enumerate(texts(CUSTOMER_ES, relevant, start=start))]
    rows += [Click(id=first_id + relevant + i, text=t, not_relevant=True, language="es")
             for i, t in enumerate(texts(NAMESAKE_ES, not_relevant, start=start))]
    return rows


def seed_clicks_es(db: Database, settings: Settings, *, relevant: int, not_relevant: int, now: datetime) -> None:
    """Queue Spanish customer and namesake posts (language "es") and act on them as `seed_clicks` does."""
    mentions = [replace(post(f"ces{i}", text, handle=f"cliente{i}", minutes_ago=1 + i % 50), language="es")
                for i, text in enumerate(texts(CUSTOMER_ES, relevant))]
    mentions += [replace(post(f"nes{i}", text, handle=f"pajarero{i}", minutes_ago=1 + i % 50), language="es")
                 for i, text in enumerate(texts(NAMESAKE_ES, not_relevant))]
    stored = seed(db, settings, mentions, {m.external_id: Labels() for m in mentions}, now=now)
    with db.session() as session:  # `seed` scores every post as English; these were scored as Spanish
        session.execute(update(ClassificationRow).where(ClassificationRow.mention_id.in_(
            [mention_id for mention_id, _ in stored.values()])).values(language="es"))
    for external_id, (_, item_id) in stored.items():
        assert item_id is not None, external_id
        set_status(db, item_id, "resolved" if external_id.startswith("c") else "not_relevant",
                   "amira" if external_id.startswith("c") else "ben", now=now)
