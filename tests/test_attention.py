import pytest
import torch

from snnkit.nn import ConvStem, MultiHeadAttention, PatchEmbed, scaled_dot_product
from snnkit.nn.attention import causal_mask


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_attention_equals_torch_multihead(heads):
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(16, heads, batch_first=True)
    mine = MultiHeadAttention(16, heads).load_from_torch(ref)
    x = torch.randn(3, 7, 16)
    mask = causal_mask(7)
    want, _ = ref(x, x, x, attn_mask=~mask)
    torch.testing.assert_close(mine(x, mask=mask), want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(mine(x), ref(x, x, x)[0], atol=1e-6, rtol=1e-5)


def test_attention_rows_are_distributions_and_bias_shifts_them():
    q, k, v = torch.randn(2, 5, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 3)
    out, w = scaled_dot_product(q, k, v, return_weights=True)
    assert out.shape == (2, 5, 3)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 5))
    bias = torch.zeros(5, 6)
    bias[:, 0] = -1e9
    _, w = scaled_dot_product(q, k, v, bias=bias, return_weights=True)
    assert w[..., 0].abs().max() < 1e-6


def test_patch_embed_equals_linear_on_flat_patches():
    torch.manual_seed(0)
    emb = PatchEmbed(1, 8, 4)
    x = torch.randn(2, 1, 8, 8)
    tokens = emb(x)
    assert tokens.shape == (2, 4, 8) and emb.grid(x) == (2, 2)
    patch = x[0, 0, 4:8, 0:4].reshape(-1)          # row 1, column 0 -> token 2
    want = emb.proj.weight.view(8, -1) @ patch + emb.proj.bias
    torch.testing.assert_close(tokens[0, 2], want, atol=1e-5, rtol=1e-5)


def test_conv_stem_shapes():
    stem = ConvStem(1, 16, depth=2, downsample=1)
    x = torch.randn(2, 1, 8, 8)
    assert stem(x).shape == (2, 16, 16) and stem.grid(x) == (4, 4)
