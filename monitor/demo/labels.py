"""Labels of the demo stream for `brandmon evaluate --stream`: what each kind of demo post is, as a person reads it.

Every post of `sample_stream.jsonl` carries a `demo_label` (praise, question, outage, complaint_*, spam, sarcasm,
thanks_followup, neutral_news, competitor_*). `DEMO_LABELS` maps each to the evaluation's labels; a label left out
is one the kind does not decide (a question may or may not be a complaint). Where a kind does not say enough, the
post's own reading is in `CATEGORIES` (the category of each own-brand complaint: the main thing it is about,
with safety and legal first where the post raises them), `OUTAGE_NOTICES` (posts of the outage that report or
relay news and ask for nothing), `OUTAGE_RECOVERED` (the network coming back) and `SCAMS` (accounts posing as
the brand to bait its customers). Explicit label fields on a record win over all of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NOT_SCAM = {"scam": False}
#: demo_label -> labels.
DEMO_LABELS: Mapping[str, Mapping[str, Any]] = {
    "praise": {"sentiment": "positive", "complaint": False, "category": "none", "needs_reply": "thank",
               "irony": False, **_NOT_SCAM},
    "question": {"needs_reply": "respond", "irony": False, **_NOT_SCAM},
    "outage": {"sentiment": "negative", "complaint": True, "category": "outage", "needs_reply": "respond",
               **_NOT_SCAM},
    "complaint_mild": {"sentiment": "negative", "complaint": True, "needs_reply": "respond", "irony": False,
                       **_NOT_SCAM},
    "complaint_moderate": {"sentiment": "negative", "complaint": True, "needs_reply": "respond", "irony": False,
                           **_NOT_SCAM},
    "complaint_severe": {"sentiment": "negative", "complaint": True, "needs_reply": "respond", "irony": False,
                         **_NOT_SCAM},
    "complaint_critical": {"sentiment": "negative", "complaint": True, "needs_reply": "respond", "irony": False,
                           **_NOT_SCAM},
    "sarcasm": {"sentiment": "negative", "complaint": True, "needs_reply": "respond", "irony": True, **_NOT_SCAM},
    "spam": {"complaint": False, "category": "none", "needs_reply": "none"},
    "thanks_followup": {"sentiment": "positive", "complaint": False, "category": "none", "needs_reply": "thank",
                        "irony": False, **_NOT_SCAM},
    "neutral_news": {"sentiment": "neutral", "complaint": False, "category": "none", "needs_reply": "none",
                     "irony": False, **_NOT_SCAM},
    # a competitor's posts are tracked for share of voice: nothing for the team to answer
    "competitor_complaint": {"sentiment": "negative", "complaint": True, "needs_reply": "none", **_NOT_SCAM},
    "competitor_praise": {"sentiment": "positive", "complaint": False, "category": "none", "needs_reply": "none",
                          **_NOT_SCAM},
}

_BY_CATEGORY: Mapping[str, tuple[str, ...]] = {
    "safety": (
        "1860000471323503275", "1860000493296321902", "1860000670548485054", "1860000681398520768", "t3_1ekvqt",
        "1860001219762535040", "1860001220047227118", "1860001220411701973", "1860001596780095441",
        "at://did:plc:jwivitk4xyycfkuqpox6dc2b/app.bsky.feed.post/3n2ukes63l4h3",
    ),
    "legal": ("1860000210525627526", "1860001629067098433", "1860001719542985913", "1860001991509375433"),
    "outage": (
        "1860000273856357816", "1860000314232721099", "1860000320551746783", "1860000321866428327",
        "1860000521529999853", "1860000542859412591", "1860000559832121195", "t1_k8g217m", "t1_k6umc9b",
        "1860000682856869027", "at://did:plc:cm7pqf2rw4gx7wevaktdbjsd/app.bsky.feed.post/3n2mesdislisy",
        "1860001045845063362", "1860001601073370826", "1860001956553563425", "1860001997982966110",
        "1860002124589024713", "t3_1ocedj", "t1_kate3ce", "t3_1oe2kq",
        # sarcasm
        "1860001212436434411", "1860001216900647310", "1860001276506173017", "1860001747872429810",
        "1860002036466073567", "1860002411192605415",
    ),
    "churn_risk": ("1860000175223347890", "1860000880920566177", "t1_kdwcgrl", "1860000605507377573"),
    "billing": (
        "t3_1lcgig", "1860000303153206856", "1860000303353428221", "1860000366681187597", "1860000497985607368",
        "at://did:plc:tyzo7pdaezoblbpuunxdzty3/app.bsky.feed.post/3n2iqbkvupgby", "1860000555791985389",
        "1860000963702079049", "1860001123958680719", "1860001322678083519", "117647994650686812",
        "1860001604549595525", "t3_1tnk47", "1860002099457077264", "1860002240146086734", "1860002288653307362",
        "1860002366579197488", "1860002449035044797", "117662409621569024",
        # sarcasm
        "1860002070330041279", "at://did:plc:jzfdryr22rnyq72mkq76g5hu/app.bsky.feed.post/3n2qgtqhoxdes",
    ),
    "delivery": ("1860000214627036196", "1860000853193673859", "117636880924695186", "1860000930435860911",
                 "1860002118642195435"),
    "account_access": (
        "at://did:plc:acehyf3ag26puewdxrcng5ow/app.bsky.feed.post/3n2j6mllrgtcw", "1860000944490081390",
        "1860001366637599798", "1860001683766865140", "1860001725405609190", "117655822008331813",
        "1860002507990580805",
    ),
    "product_defect": (
        "at://did:plc:ixyefnlikfo2tiwqx657says/app.bsky.feed.post/3n2tfmomfetza", "t1_k567fjw",
        "1860002416159443999",
    ),
    "other": (
        "1860000167572845924", "1860000227447698131", "1860000537752604707", "1860000592130588274",
        "1860000630369704469", "1860000956488481835", "1860001120160256361", "1860001659515720699",
        "117649155489825133", "1860001725148774685", "1860002004513907255", "1860002134163728997",
        # sarcasm
        "1860000209189589248", "1860000978742260655",
    ),
}
#: Post id -> the category of an own-brand complaint; the outage's posts are all "outage" by their kind.
CATEGORIES: Mapping[str, str] = {
    post: category for category, posts in _BY_CATEGORY.items() for post in posts
} | {"1860001263978641235": "outage"}  # the news of what caused the outage

#: Posts of the outage that report or relay it (status page, news, "please share") and ask the team for nothing.
OUTAGE_NOTICES = frozenset({
    "1860001213308657436", "1860001213597306562", "1860001213989731202", "1860001214189097854",
    "1860001214561689061", "1860001222324938313", "1860001216434300832", "1860001214678791416",
    "1860001214898567858", "1860001215578744904", "1860001215707518466", "1860001218380515508",
    "1860001218551696735", "1860001223468104267", "1860001224178866360", "t1_ke0luo8", "1860001226127881898",
    "1860001229001203230", "1860001229630896649", "t1_kow9tam",
})
#: "ONE BAR!!! kestrel is coming back", "signal's back": the end of the outage, nothing to answer.
OUTAGE_RECOVERED = frozenset({"1860001224679724346", "1860001226709839922"})

#: Spam that poses as the brand (lookalike accounts, bidi tricks) and baits: refund, claim and giveaway links, PINs.
SCAMS = frozenset({
    "1860001303776263997", "1860000887529289244", "1860000081039383113", "1860000989207631108",
    "1860000106798850442", "at://did:plc:fyo47ecqwanwbtymond3ytbc/app.bsky.feed.post/3n2vd5lystan3",
    "1860000689502353653",
})


def demo_labels(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the evaluation labels of one demo record; KeyError for a `demo_label` the demo does not use."""
    kind = str(record["demo_label"])
    labels = dict(DEMO_LABELS[kind])
    post = str(record.get("id", ""))
    if post in CATEGORIES:
        labels["category"] = CATEGORIES[post]
    if post in OUTAGE_NOTICES:
        labels.update(sentiment="neutral", complaint=False, needs_reply="none")
    elif post in OUTAGE_RECOVERED:
        labels.update(complaint=False, needs_reply="none")
        labels.pop("sentiment", None)
    if kind == "spam":
        labels["scam"] = post in SCAMS
    return labels
