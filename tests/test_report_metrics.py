"""Report metrics: keyword recall/precision, ROUGE, BERTScore (offline MiniLM), label F1, hallucination."""

from __future__ import annotations

import math

import pytest

from gazecxr.metrics.report import (
    BERTSCORE_NOTE,
    bertscore_f1,
    hallucination_counts,
    hallucination_rate,
    keyword_recall_precision,
    label_f1,
    region_supported,
    rouge_scores,
)


def test_keyword_recall_precision_after_negation():
    gen = ["Small right pleural effusion. No pneumothorax.", "Cardiomegaly. Possible pneumonia."]
    ref = [["Pleural abnormality", "Pneumothorax"], ["Enlarged cardiac silhouette"]]
    recall, precision = keyword_recall_precision(gen, ref)
    assert recall == pytest.approx(2 / 3)  # the negated pneumothorax is not recalled
    assert precision == pytest.approx(2 / 3)  # the possible pneumonia was not asked for
    assert all(math.isnan(v) for v in keyword_recall_precision(["Normal chest."], [[]]))


def test_rouge_uses_stemming():
    same = rouge_scores(["The lungs are clear."], ["The lungs are clear."])
    assert same == pytest.approx({"rouge_1": 1.0, "rouge_2": 1.0, "rouge_l": 1.0})
    stemmed = rouge_scores(["effusions"], ["effusion"])
    assert stemmed["rouge_1"] == 1.0
    assert rouge_scores(["heart"], ["lungs"])["rouge_l"] == 0.0


def test_bertscore_offline_minilm_orders_texts(caplog):
    with caplog.at_level("WARNING", logger="gazecxr.metrics"):
        close = bertscore_f1(["The heart is normal in size."], ["Heart size is normal."])
        far = bertscore_f1(
            ["The heart is normal in size."], ["Large left pneumothorax with mediastinal shift."]
        )
        assert bertscore_f1(["No pneumothorax."], ["No pneumothorax."]) == pytest.approx(1.0, abs=1e-4)
    assert close > far
    assert BERTSCORE_NOTE in caplog.text and "roberta-large" in BERTSCORE_NOTE
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        bertscore_f1(["a"], ["b"], model_path="/nonexistent/roberta-large")


def test_label_f1_micro_macro():
    res = label_f1(
        ["Cardiomegaly. No effusion.", "Right pleural effusion."],
        ["Cardiomegaly. Left pleural effusion.", "Right pleural effusion and atelectasis."],
        findings=["Enlarged cardiac silhouette", "Pleural abnormality", "Atelectasis"],
    )
    assert res["per_finding"]["Enlarged cardiac silhouette"]["f1"] == 1.0
    assert res["per_finding"]["Pleural abnormality"] == {
        "f1": pytest.approx(2 / 3),
        "tp": 1,
        "fp": 0,
        "fn": 1,
    }
    assert res["per_finding"]["Atelectasis"]["f1"] == 0.0
    assert res["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 2))
    assert res["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_hallucination_counts_findings_and_regions():
    given = {"Atelectasis": ("left lower lung zone",)}
    assert hallucination_counts("Left basilar atelectasis. No pneumothorax.", given) == (0, 2)
    assert hallucination_counts("Atelectasis in the left lung.", given) == (0, 2)  # more general: supported
    assert hallucination_counts("Bibasilar atelectasis.", given) == (1, 3)  # right base not given
    assert hallucination_counts("Left basilar atelectasis and a right pneumothorax.", given)[0] == 1
    assert hallucination_rate(["Cardiomegaly."], [{"Enlarged cardiac silhouette": ()}]) == 0.0
    assert region_supported("right lung", ["right costophrenic angle"])
    assert not region_supported("right lower lung zone", ["right lung"])
