import pytest
import torch
from torch import nn

from snnkit.encoding import direct
from snnkit.hw import count_ops
from snnkit.models.meta_spikeformer import MetaSpikeFormer
from snnkit.models.spikformer import (
    MaskedReconstruction,
    Spikformer,
    SpikingStem,
    normalise_patches,
    patchify,
    random_mask,
)
from snnkit.nn.spiking_attention import attention_ops


@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_spikformer_shapes_and_gradients(stem):
    torch.manual_seed(0)
    m = Spikformer(dim=16, depth=2, heads=2, T=2, patch=2, stem=stem, stem_layers=2)
    x = torch.rand(4, 1, 8, 8)
    assert m.features(x).shape == (2, 4, 16, 16)
    logits = m(x)
    assert logits.shape == (4, 10)
    logits.sum().backward()
    first = m.stem.convs[0] if stem == "conv" else m.stem.patch_embed.proj
    assert first.weight.grad.abs().sum() > 0


def test_stem_emits_spikes_and_first_layer_repeats_the_image():
    torch.manual_seed(0)
    stem = SpikingStem(1, 16, patch=2, T=3, kind="conv", layers=1).eval()
    x = torch.rand(2, 1, 8, 8)
    s = stem(x)
    assert s.shape == (3, 2, 16, 4, 4) and torch.equal(s, s.bool().float())
    per_step = stem.bns[0](stem.convs[0](direct(x, 3).flatten(0, 1))).view(3, 2, 8, 8, 8)
    once = stem.bns[0](stem.convs[0](x))               # what the stem computes, once
    assert torch.equal(per_step, once.expand(3, *once.shape))
    with pytest.raises(ValueError, match="stem"):
        SpikingStem(1, 16, 2, 1, kind="vit")


@pytest.mark.parametrize("kind", ["patch", "conv"])
def test_masked_patches_cannot_leak(kind):
    torch.manual_seed(0)
    stem = SpikingStem(1, 16, patch=2, T=2, kind=kind, layers=2).eval()
    x = torch.rand(2, 1, 8, 8)
    mask = random_mask(2, (4, 4), 0.5, torch.Generator().manual_seed(0))
    x2 = x.clone()
    pixel_mask = mask.repeat_interleave(2, 1).repeat_interleave(2, 2).unsqueeze(1)
    x2[pixel_mask] = torch.rand(int(pixel_mask.sum()))    # change only hidden pixels
    a, b = stem(x, mask), stem(x2, mask)
    assert torch.equal(a, b)
    assert a.permute(0, 1, 3, 4, 2)[:, mask].abs().sum() == 0     # hidden tokens are silent


def test_patchify_matches_token_order():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float).view(2, 3, 4, 6)
    p = patchify(x, 2)
    assert p.shape == (2, 6, 12)
    # token 4 = row 1, column 1 -> pixels [2:4, 2:4] of every channel, channel-last
    torch.testing.assert_close(p[1, 4], x[1, :, 2:4, 2:4].permute(1, 2, 0).reshape(-1))


def test_random_mask_and_normalised_targets():
    m = random_mask(5, (4, 4), 0.5, torch.Generator().manual_seed(1))
    assert m.shape == (5, 4, 4) and (m.flatten(1).sum(1) == 8).all()
    t = normalise_patches(torch.rand(3, 7, 16))
    torch.testing.assert_close(t.mean(-1), torch.zeros(3, 7), atol=1e-6, rtol=0)
    assert (t.var(-1, unbiased=False) < 1).all()
    assert normalise_patches(torch.zeros(1, 1, 4)).abs().sum() == 0   # blank stays 0


def test_masked_reconstruction_learns_below_the_patch_mean_baseline():
    torch.manual_seed(0)
    x = torch.zeros(16, 1, 8, 8)
    x[:, :, :, 3] = 1.0                                # a vertical line: predictable from context
    enc = Spikformer(dim=16, depth=1, heads=2, T=1, patch=2, stem="conv", stem_layers=1)
    model = MaskedReconstruction(enc, mask_ratio=0.5, decoder_dim=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(40):
        loss, base = model.loss(x, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss, base = model.loss(x, g)
    assert base > 0.2 and loss < 0.5 * base
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedReconstruction(enc, mask_ratio=1.0)


# ----------------------------------------------------------------------------- Meta-SpikeFormer


def tiny_meta(**kw):
    return MetaSpikeFormer(dims=(8, 16, 16, 24), depths=(1, 1, 1, 1), strides=(2, 2, 1, 1),
                           heads=2, mlp_ratio=2, **kw)


@pytest.mark.parametrize("spiking", [True, False])
def test_meta_spikeformer_shapes_and_gradients(spiking):
    torch.manual_seed(0)
    m = tiny_meta(T=2, spiking=spiking)
    x = torch.rand(3, 1, 14, 14)
    logits = m(x)
    assert logits.shape == (3, 10) and m.T == (2 if spiking else 1)
    logits.sum().backward()
    assert m.downs[0].conv.weight.grad.abs().sum() > 0


def synapse_inputs(model, x):
    """(name, input is binary) for every synaptic layer call, in call order."""
    seen, hooks = [], []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d)):
            hooks.append(mod.register_forward_hook(
                lambda m, a, y, n=name: seen.append((n, bool(((a[0] == 0) | (a[0] == 1)).all())))))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("variant", [1, 3])
def test_meta_spikeformer_is_spike_driven(variant):
    torch.manual_seed(0)
    m = tiny_meta(T=2, variant=variant).eval()
    x = torch.rand(4, 1, 14, 14)
    seen = synapse_inputs(m, x)
    assert seen[0] == ("downs.0.conv", False)                  # the image
    assert len(seen) > 20 and all(binary for _, binary in seen[1:])
    report = count_ops(m, x, samples=4)
    macs = {c.name: c.macs for c in report.layers if c.kind != "neuron"}
    assert macs.pop("downs.0.conv") > 0 and sum(macs.values()) == 0
    assert attention_ops(m, x, samples=4).multiplications == 0
    ann = tiny_meta(spiking=False).eval()
    assert attention_ops(ann, x, samples=4).macs > 0
    dense = count_ops(ann, x, samples=4, spike_driven=False)
    assert dense.total("acs") == 0 and dense.total("macs") > report.total("macs")
