"""The handbook's fraud metrics: AUC ROC, average precision, Card Precision@k."""

from __future__ import annotations

import numpy as np
import pandas as pd


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties averaged)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y > 0
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Precision at each threshold, weighted by the recall it adds. Tied scores are one
    threshold: a constant score's AP is the base rate, whatever order the rows are in
    (the publish gate relies on that for a model that answers the same for everything)."""
    order = np.argsort(-score, kind="mergesort")
    s, y = np.asarray(score)[order], np.asarray(y)[order] > 0
    if not y.any():
        return float("nan")
    last_of_tie = np.append(s[1:] != s[:-1], True)
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / np.arange(1, len(y) + 1)[last_of_tie]
    return float((precision * np.diff(tp, prepend=0)).sum() / y.sum())


def card_precision_at_k(test: pd.DataFrame, score: np.ndarray, k: int = 100,
                        remove_detected: bool = True) -> float:
    """The handbook's Card Precision@k (`card_precision_top_k`): per day, the share of
    frauded cards among the k cards with the highest score that day (a card scores
    its highest transaction); averaged over days. With `remove_detected` (the
    handbook's default) a frauded card among a day's k is an investigated, blocked
    card: it is left out of every later day, so finding it again counts nothing."""
    df = pd.DataFrame({"day": test["day"].to_numpy(), "card": test["card_id"].to_numpy(),
                       "fraud": test["is_fraud"].to_numpy(), "score": score})
    detected: set = set()
    per_day = []
    for _, part in df.groupby("day", sort=True):
        if detected:
            part = part[~part["card"].isin(detected)]
        per_card = part.groupby("card").agg(score=("score", "max"), fraud=("fraud", "max"))
        top = per_card.sort_values("score", ascending=False, kind="mergesort").head(k)
        hits = top.index[top["fraud"] > 0]
        per_day.append(len(hits) / k)
        if remove_detected:
            detected.update(hits)
    return float(np.mean(per_day)) if per_day else float("nan")


def fraud_report(test: pd.DataFrame, score: np.ndarray) -> dict[str, float]:
    y = test["is_fraud"].to_numpy()
    return {"auc_roc": round(roc_auc(y, score), 4), "average_precision": round(average_precision(y, score), 4),
            "card_precision_at_100": round(card_precision_at_k(test, score, 100), 4)}


def auc_by_scenario(test: pd.DataFrame, score: np.ndarray) -> dict[str, float]:
    """AUC of each fraud scenario's frauds against all genuine transactions."""
    y, scenario = test["is_fraud"].to_numpy(), test["fraud_scenario"].to_numpy()
    return {f"scenario_{k}": round(roc_auc(y[(scenario == 0) | (scenario == k)],
                                           score[(scenario == 0) | (scenario == k)]), 4)
            for k in sorted(set(scenario[y > 0].tolist()))}
