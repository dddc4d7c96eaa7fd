import pytest
import torch

from snnkit.models.step import (
    ATTENTIONS,
    NEURONS,
    STEMS,
    SpikingTransformer,
    benchmark,
    firing_rate,
    train,
)
from snnkit.neurons import IF, LIF, PLIF
from snnkit.quant import IELIF, QuantLinear, model_size_bits, spike_driven

TINY = dict(dim=16, heads=2, mlp_ratio=2, T=2)


def _x(n=4):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("attn", ATTENTIONS)
def test_every_stem_and_attention_runs_and_learns(stem, attn):
    torch.manual_seed(0)
    model = SpikingTransformer(stem=stem, attn=attn, **TINY)
    logits = model(_x())
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert model.stem.parameters().__next__().grad is not None


@pytest.mark.parametrize("neuron,cls", [("lif", LIF), ("if", IF), ("plif", PLIF),
                                        ("ielif", IELIF)])
def test_neurons_are_swapped_everywhere(neuron, cls):
    model = SpikingTransformer(neuron=neuron, **TINY)
    kinds = {type(m) for m in model.modules() if isinstance(m, (LIF, IELIF))}
    assert kinds == {cls}
    assert set(NEURONS) >= {"lif", "if", "plif", "ielif", "relu"}


def test_spikes_reach_every_synaptic_layer_after_the_first():
    model = SpikingTransformer(**TINY).eval()
    seen = {}
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and name != "head":
            m.register_forward_hook(lambda mod, a, y, name=name: seen.__setitem__(name, a[0]))
    model(_x())
    assert seen and all(bool(((v == 0) | (v == 1)).all()) for v in seen.values())


def test_random_attention_keeps_q_and_k_frozen():
    torch.manual_seed(0)
    model = SpikingTransformer(attn="random", **TINY)
    attn = model.blocks[0].attn
    q0, k0, v0 = (w.weight.detach().clone() for w in (attn.q, attn.k, attn.v))
    train(model, (_x(8), torch.arange(8)), epochs=1, batch_size=4)
    assert torch.equal(attn.q.weight, q0) and torch.equal(attn.k.weight, k0)
    assert not torch.equal(attn.v.weight, v0)


def test_step_yml_keys_build_the_same_model():
    cfg = {"embed_layer": "sps2", "attn_layer": "sdsa", "node_type": "plif",
           "act_function": "triangle", "step": 3, "embed_dim": 16, "num_heads": 2, "depths": 1}
    a = SpikingTransformer.from_config(cfg)
    b = SpikingTransformer(stem="sps2", attn="sdsa", neuron="plif", surrogate="triangle", T=3,
                           dim=16, heads=2, depth=1)
    assert a.config == b.config
    with pytest.raises(ValueError, match="encoding"):
        SpikingTransformer(encoding="phase", **TINY)
    with pytest.raises(ValueError, match="surrogate"):
        SpikingTransformer(surrogate="nope", **TINY)


@pytest.mark.parametrize("encoding", ["direct", "rate", "latency"])
def test_encodings(encoding):
    model = SpikingTransformer(encoding=encoding, **TINY)
    x = model.encode(_x())
    assert x.shape == (2, 4, 1, 8, 8)
    if encoding != "direct":
        assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_quantised_ielif_model_is_spike_driven():
    torch.manual_seed(0)
    model = SpikingTransformer(neuron="ielif", bits=4, **{**TINY, "T": 1})
    train(model, (_x(8), torch.arange(8)), epochs=1, batch_size=8)
    model.eval()
    attn = model.blocks[0].attn
    got = {}
    attn.proj.register_forward_hook(lambda m, a, y: got.update(x=a[0], y=y))
    model(_x())
    assert isinstance(attn.proj, QuantLinear)
    torch.testing.assert_close(spike_driven(attn.proj, got["x"], 4, scale=0.5), got["y"],
                               atol=1e-5, rtol=1e-5)
    size = model_size_bits(model)
    assert size["quantised_as_float"] == 8 * size["quantised"]


def test_benchmark_one_call_same_seeds_and_budget():
    X, y = _x(16), torch.arange(16) % 10
    table = benchmark({"lif": {}, "if": {"neuron": "if"}, "ann": {"neuron": "relu", "T": 1}},
                      (X, y, X, y), base=TINY, seeds=(0, 1), epochs=1, batch_size=8,
                      progress=False)
    assert [r["name"] for r in table.rows] == ["lif", "if", "ann"]
    assert all(len(r["accs"]) == 2 for r in table.rows)
    assert table.settings["seeds"] == [0, 1] and table.settings["epochs"] == 1
    assert 0 <= table["lif"]["firing_rate"] <= 1 and table["ann"]["firing_rate"] is None
    assert "same for all" in str(table)
    again = benchmark({"lif": {}}, (X, y, X, y), base=TINY, seeds=(0, 1), epochs=1, batch_size=8,
                      progress=False)
    assert again["lif"]["accs"] == table["lif"]["accs"]        # deterministic given the seeds
    mixed = benchmark({"lif": {}, "if": {"neuron": "if"}}, (X, y, X, y), base=TINY, seeds=(0, 1),
                      seeds_for={"if": [0]}, epochs=1, batch_size=8, progress=False)
    assert len(mixed["lif"]["accs"]) == 2 and mixed["if"]["accs"] == table["if"]["accs"][:1]
    assert "(if: [0])" in str(mixed)
    with pytest.raises(KeyError, match="seeds_for"):
        benchmark({"lif": {}}, (X, y, X, y), base=TINY, seeds_for={"plif": [0]}, epochs=1)


def test_firing_rate_counts_multibit_levels():
    model = SpikingTransformer(neuron="ielif", **{**TINY, "T": 1}).eval()
    fr = firing_rate(model, _x())
    assert 0 < fr < 1
