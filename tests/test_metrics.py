import math

import pytest
import torch
from torch import nn

from snnkit.metrics import (
    bits_per_char,
    cross_entropy_bits,
    lm_nats,
    perplexity,
    unigram_bits,
)


class FixedLM(nn.Module):
    """Ignores its input and predicts the same distribution everywhere."""

    def __init__(self, probs):
        super().__init__()
        self.logits = nn.Parameter(probs.log())

    def forward(self, ids):
        return self.logits.expand(*ids.shape, -1)


def test_uniform_logits_cost_log2_vocab():
    logits = torch.zeros(3, 7, 10)
    targets = torch.randint(0, 10, (3, 7))
    assert math.isclose(cross_entropy_bits(logits, targets).item(), math.log2(10), rel_tol=1e-6)


def test_context_free_model_scores_its_unigram():
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 6, (500,), generator=g)
    ids = torch.randint(0, 6, (161,), generator=g)
    counts = torch.bincount(train, minlength=6).double() + 1
    model = FixedLM((counts / counts.sum()).float())
    bpc = bits_per_char(model, ids, context=16, batch_size=3)
    # 160 targets = 10 windows of 16; the model's bits equal the unigram bits on those targets
    assert math.isclose(bpc, unigram_bits(train, ids[1:161], 6), rel_tol=1e-5)
    assert math.isclose(perplexity(model, ids, 16), 2 ** bpc, rel_tol=1e-5)
    assert math.isclose(lm_nats(model, ids, 16), bpc * math.log(2), rel_tol=1e-6)


def test_tail_is_dropped_and_mode_restored():
    model = FixedLM(torch.full((4,), 0.25)).train()
    ids = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    assert math.isclose(bits_per_char(model, ids, context=4), 2.0, rel_tol=1e-6)
    assert model.training
    with pytest.raises(ValueError, match="symbols"):
        bits_per_char(model, ids[:3], context=4)
