"""A small two-head MLP (fraud, credit) trained with numpy and Adam.

The first model of the walking skeleton: real, small and dependency-light.
The torch-trained models replace it later; the export contract stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass
class TwoHeadMLP:
    mean: np.ndarray
    std: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w_fraud: np.ndarray
    b_fraud: np.ndarray
    w_credit: np.ndarray
    b_credit: np.ndarray

    @classmethod
    def init(cls, x: np.ndarray, hidden: int, rng: np.random.Generator) -> TwoHeadMLP:
        d = x.shape[1]
        std = x.std(axis=0)
        return cls(
            mean=x.mean(axis=0).astype(np.float32),
            std=np.where(std > 1e-6, std, 1.0).astype(np.float32),
            w1=(rng.standard_normal((d, hidden)) * np.sqrt(2 / d)).astype(np.float32),
            b1=np.zeros(hidden, np.float32),
            w_fraud=(rng.standard_normal((hidden, 1)) * np.sqrt(1 / hidden)).astype(np.float32),
            b_fraud=np.zeros(1, np.float32),
            w_credit=(rng.standard_normal((hidden, 1)) * np.sqrt(1 / hidden)).astype(np.float32),
            b_credit=np.zeros(1, np.float32),
        )

    def params(self) -> list[np.ndarray]:
        return [self.w1, self.b1, self.w_fraud, self.b_fraud, self.w_credit, self.b_credit]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.maximum((x - self.mean) / self.std @ self.w1 + self.b1, 0)
        return _sigmoid(h @ self.w_fraud + self.b_fraud)[:, 0], _sigmoid(h @ self.w_credit + self.b_credit)[:, 0]

    def fit(self, x: np.ndarray, y_fraud: np.ndarray, y_credit: np.ndarray, *, epochs: int = 30,
            batch: int = 256, lr: float = 3e-3, fraud_weight: float = 5.0, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        xn = ((x - self.mean) / self.std).astype(np.float32)
        m = [np.zeros_like(p) for p in self.params()]
        v = [np.zeros_like(p) for p in self.params()]
        step = 0
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(x), batch):
                idx = order[start : start + batch]
                xb, yf, yc = xn[idx], y_fraud[idx], y_credit[idx]
                pre = xb @ self.w1 + self.b1
                h = np.maximum(pre, 0)
                pf = _sigmoid(h @ self.w_fraud + self.b_fraud)[:, 0]
                pc = _sigmoid(h @ self.w_credit + self.b_credit)[:, 0]
                # Weighted log loss: frauds are rare, so they weigh more.
                wf = np.where(yf > 0, fraud_weight, 1.0)
                gf = ((pf - yf) * wf / len(idx))[:, None]
                gc = ((pc - yc) / len(idx))[:, None]
                gh = (gf @ self.w_fraud.T + gc @ self.w_credit.T) * (pre > 0)
                grads = [xb.T @ gh, gh.sum(0), h.T @ gf, gf.sum(0), h.T @ gc, gc.sum(0)]
                step += 1
                for i, (p, g) in enumerate(zip(self.params(), grads, strict=True)):
                    m[i] = 0.9 * m[i] + 0.1 * g
                    v[i] = 0.999 * v[i] + 0.001 * g * g
                    p -= (lr * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)).astype(
                        np.float32
                    )


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
