"""Torch models: standardisation inside the model, so the exported graph takes raw features."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Standardize(nn.Module):
    def __init__(self, x: np.ndarray) -> None:
        super().__init__()
        std = x.std(axis=0)
        self.register_buffer("mean", torch.tensor(x.mean(axis=0), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(np.where(std > 1e-9, std, 1.0), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class LogisticRegression(nn.Module):
    def __init__(self, x: np.ndarray) -> None:
        super().__init__()
        self.norm = Standardize(x)
        self.linear = nn.Linear(x.shape[1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(self.norm(x)))


class MLP(nn.Module):
    def __init__(self, x: np.ndarray, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = [Standardize(x)]
        width = x.shape[1]
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.body(x))


def fit_logistic(model: LogisticRegression, x: np.ndarray, y: np.ndarray, c: float = 1.0) -> None:
    """The optimum scikit-learn's default LogisticRegression finds (L2, C=1), with LBFGS."""
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]
    opt = torch.optim.LBFGS(model.linear.parameters(), lr=1.0, max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = model.linear(model.norm(xt))
        loss = nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="sum")
        loss = c * loss + 0.5 * (model.linear.weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)


def fit_mlp(model: MLP, x: np.ndarray, y: np.ndarray, *, epochs: int = 40, batch: int = 256, lr: float = 1e-3,
            weight_decay: float = 1e-5, seed: int = 0) -> None:
    torch.manual_seed(seed)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for start in range(0, len(xt), batch):
            idx = perm[start : start + batch]
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(x, dtype=torch.float32)).numpy()[:, 0]
