import math

import pytest
import torch

from snnkit.models.transformer import (
    CharLM,
    Forecaster,
    PatchClassifier,
    Transformer,
    TransformerBlock,
    sinusoidal_pe,
)
from snnkit.nn.attention import causal_mask


def assert_close(got, want, atol=1e-5):
    """Max-difference check (torch.testing.assert_close costs a 4 s import on first use)."""
    assert got.shape == want.shape, (got.shape, want.shape)
    assert (got - want).abs().max().item() <= atol, (got - want).abs().max().item()


def test_sinusoidal_pe_follows_the_formula():
    pe = sinusoidal_pe(50, 16)
    assert pe.shape == (50, 16)
    for p, i in [(0, 0), (7, 3), (49, 7)]:
        angle = p / 10000 ** (2 * i / 16)
        assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
        assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_pe(4, 5)


@pytest.mark.parametrize("causal", [False, True])
def test_block_equals_torch_pre_norm_encoder_layer(causal):
    torch.manual_seed(0)
    ref = torch.nn.TransformerEncoderLayer(16, 4, dim_feedforward=64, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
    ref.eval()
    mine = TransformerBlock(16, 4, mlp_ratio=4)
    mine.attn.load_from_torch(ref.self_attn)
    mine.norm1.load_state_dict(ref.norm1.state_dict())
    mine.norm2.load_state_dict(ref.norm2.state_dict())
    mine.mlp[0].load_state_dict(ref.linear1.state_dict())
    mine.mlp[2].load_state_dict(ref.linear2.state_dict())
    x = torch.randn(3, 9, 16)
    mask = causal_mask(9) if causal else None
    want = ref(x, src_mask=~mask if causal else None)
    assert_close(mine(x, mask), want)


def test_trunk_without_positions_is_permutation_equivariant():
    torch.manual_seed(0)
    trunk = Transformer(16, 2, 2, max_len=10, pos="none")
    x = torch.randn(2, 10, 16)
    perm = torch.randperm(10)
    assert_close(trunk(x)[:, perm], trunk(x[:, perm]))
    with_pos = Transformer(16, 2, 2, max_len=10, pos="sin")
    assert not torch.allclose(with_pos(x)[:, perm], with_pos(x[:, perm]), atol=1e-3)


def test_char_lm_is_causal_and_generates():
    torch.manual_seed(0)
    lm = CharLM(vocab=11, dim=16, depth=2, heads=2, context=8)
    ids = torch.randint(11, (2, 8))
    logits = lm(ids)
    assert logits.shape == (2, 8, 11)
    changed = ids.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    assert_close(lm(changed)[:, :5], logits[:, :5], atol=0)
    assert not torch.allclose(lm(changed)[:, 5:], logits[:, 5:])
    out = lm.generate(ids[:, :3], 10, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 13) and torch.equal(out[:, :3], ids[:, :3])
    assert int(out.max()) < 11


def test_attention_maps_are_causal_distributions_and_not_kept():
    torch.manual_seed(0)
    lm = CharLM(vocab=7, dim=16, depth=2, heads=4, context=6)
    maps = lm.trunk.attention_maps(lm.embed(torch.randint(7, (3, 6))))
    assert len(maps) == 2 and maps[0].shape == (3, 4, 6, 6)
    for w in maps:
        assert_close(w.sum(-1), torch.ones(3, 4, 6))
        assert w.triu(1).abs().max() == 0
    assert all(not b.attn.keep_weights and b.attn.weights is None for b in lm.trunk.blocks)


def test_patch_classifier_shapes_and_gradients():
    torch.manual_seed(0)
    model = PatchClassifier(image=8, patch=2, classes=10, dim=16, depth=2, heads=2)
    assert model.trunk.pos.shape == (16, 16)
    logits = model(torch.rand(5, 1, 8, 8))
    assert logits.shape == (5, 10)
    torch.nn.functional.cross_entropy(logits, torch.arange(5)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(ValueError, match="multiple"):
        PatchClassifier(image=8, patch=3, classes=10, dim=16, depth=1, heads=2)


def test_forecaster_with_a_zero_head_is_persistence():
    torch.manual_seed(0)
    model = Forecaster(dim=16, depth=1, heads=2, context=12, pos="learned")
    x = torch.randn(4, 12)
    assert model(x).shape == (4, 12)
    assert not torch.allclose(model(x), x)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    assert_close(model(x), x, atol=0)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="pos must be"):
        Transformer(16, 1, 2, max_len=4, pos="rope")
    with pytest.raises(ValueError, match="longer than max_len"):
        Transformer(16, 1, 2, max_len=4)(torch.randn(1, 5, 16))
