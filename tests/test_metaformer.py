import math

import pytest
import torch
from torch import nn

from snnkit.functional.frequency import box_gain, highfreq_share, lif_gain, measured_gain
from snnkit.models.metaformer import (
    AttentionMixer,
    ChannelMLP,
    MetaFormer,
    MetaFormerBlock,
    PoolMixer,
    SpikingEmbed,
    SpikingMetaFormer,
    attention_matmul_macs,
    make_mixer,
    metaformer_macs,
)
from snnkit.neurons import LIF


def _neighbourhood(x, i, j, r):
    H, W = x.shape[-2:]
    return x[..., max(i - r, 0):min(i + r + 1, H), max(j - r, 0):min(j + r + 1, W)]


@pytest.mark.parametrize("size", [3, 5])
def test_pool_mixers_equal_explicit_neighbourhoods(size):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6)
    avg, mx = PoolMixer("avg", size, False)(x), PoolMixer("max", size, False)(x)
    for i in range(5):
        for j in range(6):
            nb = _neighbourhood(x, i, j, size // 2)      # borders: only existing neighbours
            torch.testing.assert_close(avg[..., i, j], nb.mean((-2, -1)))
            torch.testing.assert_close(mx[..., i, j], nb.amax((-2, -1)))
    torch.testing.assert_close(PoolMixer("avg", size)(x), avg - x)
    assert sum(p.numel() for p in PoolMixer().parameters()) == 0
    with pytest.raises(ValueError):
        PoolMixer("avg", 4)
    with pytest.raises(ValueError):
        make_mixer("conv", 8)


def test_attention_mixer_equals_torch_on_flattened_tokens_and_ignores_order():
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    mixer = AttentionMixer(8, 2)
    mixer.attn.load_from_torch(ref)
    x = torch.randn(2, 8, 3, 4)
    tokens = x.flatten(2).transpose(1, 2)
    want = ref(tokens, tokens, tokens)[0].transpose(1, 2).reshape(2, 8, 3, 4)
    torch.testing.assert_close(mixer(x), want, atol=1e-6, rtol=1e-5)
    perm = torch.randperm(12)                     # shuffle tokens: output shuffles the same way
    shuffled = x.flatten(2)[..., perm].view_as(x)
    torch.testing.assert_close(mixer(shuffled).flatten(2), mixer(x).flatten(2)[..., perm],
                               atol=1e-6, rtol=1e-5)


def test_block_equals_its_formula():
    torch.manual_seed(0)
    block = MetaFormerBlock(8, "avg", layer_scale=0.3)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 8, 4, 4)
    gn = nn.functional.group_norm
    n1 = gn(x, 1, block.norm1.weight, block.norm1.bias)
    mixed = nn.functional.avg_pool2d(n1, 3, 1, 1, count_include_pad=False) - n1
    x1 = x + block.ls1.scale * mixed
    n2 = gn(x1, 1, block.norm2.weight, block.norm2.bias)
    conv1 = nn.functional.conv2d(n2, block.mlp.fc1.weight[..., None, None], block.mlp.fc1.bias)
    mlp = nn.functional.conv2d(nn.functional.gelu(conv1), block.mlp.fc2.weight[..., None, None],
                               block.mlp.fc2.bias)
    torch.testing.assert_close(block(x), x1 + block.ls2.scale * mlp, atol=1e-5, rtol=1e-5)
    assert isinstance(block.mlp, ChannelMLP)
    assert isinstance(MetaFormerBlock(8, "avg", layer_scale=None).ls1, nn.Identity)


@pytest.mark.parametrize("mixer", ["identity", "avg", "max", "dwconv", "attention"])
def test_metaformer_shapes_and_gradients(mixer):
    torch.manual_seed(0)
    model = MetaFormer(mixer, dim=16, depth=2, heads=2, pos_embed=mixer == "attention")
    x = torch.rand(3, 28, 28)
    logits = model(x)
    assert logits.shape == (3, 10)
    logits.sum().backward()
    assert model.embed.proj.weight.grad.abs().sum() > 0
    assert model.features(x).shape == (3, 16, 7, 7)


def test_identity_mixer_model_cannot_see_token_order():
    """With neither mixing nor positions, the model is a bag of patches."""
    torch.manual_seed(0)
    model = MetaFormer("identity", dim=8, depth=2, patch=7).eval()
    x = torch.rand(2, 1, 28, 28)
    swapped = x.clone()
    swapped[..., :7, :7], swapped[..., 21:, 21:] = x[..., 21:, 21:], x[..., :7, :7]
    torch.testing.assert_close(model(swapped), model(x), atol=1e-5, rtol=1e-5)
    pooled = MetaFormer("avg", dim=8, depth=2, patch=7).eval()
    assert not torch.allclose(pooled(swapped), pooled(x), atol=1e-4)


def test_mac_counts_follow_the_formulas():
    dim, depth, n, ratio = 16, 2, 49, 4
    embed, head = n * 16 * dim, dim * 10
    mlp = 2 * n * dim * ratio * dim
    x = torch.rand(2, 28, 28)
    pool = metaformer_macs(MetaFormer("avg", dim=dim, depth=depth), x)
    assert pool["macs"] == embed + depth * mlp + head
    assert pool["pool_ops"] == depth * n * dim * 8
    attn = metaformer_macs(MetaFormer("attention", dim=dim, depth=depth, heads=2), x)
    assert attention_matmul_macs(n, dim) == 2 * n * n * dim
    assert attn["macs"] - pool["macs"] == depth * (4 * n * dim ** 2 + 2 * n ** 2 * dim)
    assert attn["params"] - pool["params"] == depth * 4 * (dim * dim + dim)


def test_spiking_neuron_defaults_are_spikingjelly_lif_tau2():
    """u = u + (x - u)/2, spike when u >= 1, hard reset to 0 (Max-Former's neuron)."""
    torch.manual_seed(0)
    x = 2 * torch.randn(20, 50)
    u, want = torch.zeros(50), []
    for x_t in x:
        u = u + (x_t - u) / 2
        s = (u >= 1).float()
        want.append(s)
        u = u * (1 - s)
    spikes, _ = LIF(0.5, 2.0, "zero")(x)
    torch.testing.assert_close(spikes, torch.stack(want))


@pytest.mark.parametrize("mixer, embed_pool", [("identity", None), ("avg", "max"),
                                               ("max", None), ("dwconv", "avg")])
def test_spiking_metaformer_shapes_spikes_and_gradients(mixer, embed_pool):
    torch.manual_seed(0)
    model = SpikingMetaFormer(mixer, dim=16, depth=2, T=3, embed_pool=embed_pool)
    x = torch.rand(4, 1, 8, 8)
    feats = model.features(x)
    assert [f.shape for f in feats] == [(3, 4, 16, 4, 4)] * 3
    spikes = model.blocks[0][1].act1(feats[0])
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    model(x).sum().backward()
    assert model.embed.stem[0].weight.grad.abs().sum() > 0


def test_spiking_embed_pooling_and_relu_twin():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 28, 28)
    for pool in (None, "max", "avg"):
        assert SpikingEmbed(4, 16, pool, stem_stride=2)(x).shape == (2, 3, 16, 7, 7)
    emb = SpikingEmbed(4, 16, "max").eval()
    spikes = emb.act(emb.stem(x.flatten(0, 1)).view(2, 3, 8, 28, 28))     # LIF over time
    dense = emb.proj(spikes.flatten(0, 1))
    torch.testing.assert_close(emb(x).flatten(0, 1), nn.functional.max_pool2d(dense, 3, 2, 1))
    twin = SpikingMetaFormer("max", dim=16, T=1, neuron="relu").eval()
    assert not any(isinstance(m, LIF) for m in twin.modules())
    assert twin(torch.rand(2, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError):
        SpikingMetaFormer("attention")
    with pytest.raises(ValueError):
        SpikingEmbed(1, 8, "min")


def test_lif_membrane_is_a_low_pass_filter():
    beta = 0.5
    w = torch.linspace(0.05, math.pi, 16, dtype=torch.float64)
    gain = measured_gain(LIF(beta, threshold=1e9, reset="none"), w)
    torch.testing.assert_close(gain, lif_gain(beta, w), atol=1e-5, rtol=1e-5)
    assert (gain[1:] < gain[:-1]).all()
    tau = 1 / (1 - beta)
    ratio = lif_gain(beta, math.pi) / lif_gain(beta, 0.0)
    assert abs(ratio.item() - 1 / (2 * tau - 1)) < 1e-12


def test_box_gain_and_highfreq_share():
    w = torch.linspace(0.1, math.pi, 8, dtype=torch.float64)
    def moving_average(x):                     # [T, F], causal 3-tap mean over time
        return nn.functional.avg_pool1d(nn.functional.pad(x.T, (2, 0)), 3, 1).T

    measured = measured_gain(moving_average, w, steps=300, burn_in=20)
    torch.testing.assert_close(measured, box_gain(3, w), atol=1e-5, rtol=1e-5)
    assert box_gain(3, 2 * math.pi / 3) < 1e-12
    slow = torch.cos(2 * math.pi * torch.arange(16) / 16).expand(2, 16, 16)
    assert highfreq_share(slow).max() < 1e-12 and highfreq_share(torch.ones(16, 16)) == 0
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2
    assert highfreq_share(checker.float()) > 0.99
    torch.manual_seed(0)
    noise = torch.randn(64, 64)
    area = 1 - math.pi * 0.25 ** 2                      # |f| > Nyquist/2 in the unit square
    assert abs(highfreq_share(noise).item() - area) < 0.05
