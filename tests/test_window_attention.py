import math

import pytest
import torch

from snnkit.nn import MultiHeadAttention
from snnkit.nn.window_attention import (
    MASK_VALUE,
    PatchMerging,
    SwinBlock,
    SwinClassifier,
    WindowAttention,
    attention_graph,
    cyclic_shift,
    matmul_macs,
    msa_flops,
    relative_position_index,
    shifted_window_mask,
    swin_block_flops,
    window_partition,
    window_reverse,
    wmsa_flops,
)


def naive_shifted_attention(block: SwinBlock, x: torch.Tensor) -> torch.Tensor:
    """SW-MSA token by token on the un-rolled map ``[H, W, C]``: token i attends to token j iff
    both fall in one window of the rolled map and the roll kept their offset (true neighbours);
    the bias is read at their offset in the image."""
    H, W, C = x.shape
    M, s, attn = block.window, block.shift, block.attn
    heads, d = attn.heads, C // attn.heads
    q, k, v = attn.qkv(x.reshape(H * W, C)).view(H * W, 3, heads, d).unbind(1)
    out = torch.zeros(H * W, heads, d)
    coords = [(y, xx) for y in range(H) for xx in range(W)]
    rolled = [((y - s) % H, (xx - s) % W) for y, xx in coords]
    for i, (yi, xi) in enumerate(coords):
        keys, bias = [], []
        for j, (yj, xj) in enumerate(coords):
            (ryi, rxi), (ryj, rxj) = rolled[i], rolled[j]
            same_window = (ryi // M, rxi // M) == (ryj // M, rxj // M)
            kept_offset = (ryi - ryj, rxi - rxj) == (yi - yj, xi - xj)
            if same_window and kept_offset:
                keys.append(j)
                dy, dx = yi - yj + M - 1, xi - xj + M - 1
                bias.append(attn.table[dy * (2 * M - 1) + dx])
        logits = torch.einsum("hd,jhd->hj", q[i], k[keys]) / math.sqrt(d)
        weights = (logits + torch.stack(bias, 1)).softmax(-1)
        out[i] = torch.einsum("hj,jhd->hd", weights, v[keys])
    return attn.proj(out.reshape(H * W, C)).view(H, W, C)


def test_partition_reverse_roundtrip_and_layout():
    x = torch.randn(2, 8, 12, 3)
    w = window_partition(x, 4)
    assert w.shape == (2, 6, 16, 3)
    assert torch.equal(w[1, 4], x[1, 4:8, 4:8].reshape(16, 3))   # window (1, 1), row-major
    assert torch.equal(window_reverse(w, 4, 8, 12), x)
    assert torch.equal(cyclic_shift(cyclic_shift(x, 2), -2), x)
    with pytest.raises(ValueError):
        window_partition(x, 5)


@pytest.mark.parametrize("M", [2, 3, 7])
def test_relative_position_index_counts_offsets(M):
    idx = relative_position_index(M)
    assert idx.shape == (M * M, M * M)
    for i in range(M * M):
        for j in range(M * M):
            dy, dx = i // M - j // M, i % M - j % M
            assert idx[i, j] == (dy + M - 1) * (2 * M - 1) + dx + M - 1
    assert idx.unique().numel() == (2 * M - 1) ** 2


@pytest.mark.parametrize("H,W,M,s", [(8, 8, 4, 2), (6, 9, 3, 1), (14, 14, 7, 3)])
def test_mask_allows_exactly_true_neighbours(H, W, M, s):
    mask = shifted_window_mask(H, W, M, s)
    pos = window_partition(torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W),
                                                      indexing="ij"), -1)[None], M)[0]
    orig = (pos + s) % torch.tensor([H, W])          # image position of each rolled position
    kept = ((pos[:, :, None] - pos[:, None, :]) == (orig[:, :, None] - orig[:, None, :])).all(-1)
    assert torch.equal(mask == 0, kept)
    assert set(mask.unique().tolist()) <= {0.0, MASK_VALUE}
    graph = attention_graph(H, W, M, s)
    y, x = torch.arange(H * W) // W, torch.arange(H * W) % W
    win = ((y - s) % H // M) * W + (x - s) % W // M                  # rolled window of each token
    dy, dx = y[:, None] - y[None, :], x[:, None] - x[None, :]
    ry, rx = (y - s) % H, (x - s) % W
    kept_img = (ry[:, None] - ry[None, :] == dy) & (rx[:, None] - rx[None, :] == dx)
    assert torch.equal(graph, (win[:, None] == win[None, :]) & kept_img)
    assert torch.equal(shifted_window_mask(H, W, M, 0), torch.zeros_like(mask))


@pytest.mark.parametrize("H,W,M,s,heads", [(8, 8, 4, 2, 2), (6, 9, 3, 1, 1)])
def test_shifted_block_equals_naive_neighbour_attention(H, W, M, s, heads):
    torch.manual_seed(0)
    block = SwinBlock(8, (H, W), heads, M, s)
    with torch.no_grad():
        block.attn.table.normal_()
        x = torch.randn(H, W, 8)
        torch.testing.assert_close(block.mix(x[None])[0], naive_shifted_attention(block, x),
                                   atol=1e-5, rtol=1e-5)


def test_window_attention_without_bias_is_plain_attention_per_window():
    torch.manual_seed(0)
    attn = WindowAttention(12, 3, heads=3, rel_bias=False)
    mha = MultiHeadAttention(12, 3)
    with torch.no_grad():
        for lin, w, b in zip((mha.q, mha.k, mha.v), attn.qkv.weight.chunk(3),
                             attn.qkv.bias.chunk(3), strict=True):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        mha.out.load_state_dict(attn.proj.state_dict())
    w = torch.randn(2, 4, 9, 12)
    torch.testing.assert_close(attn(w), mha(w.view(8, 9, 12)).view(2, 4, 9, 12))


def test_small_map_is_one_window_without_shift():
    block = SwinBlock(8, (4, 4), 2, window=7, shift=3)
    assert (block.window, block.shift, block.mask) == (4, 0, None)
    assert block(torch.randn(2, 16, 8)).shape == (2, 16, 8)
    with pytest.raises(ValueError):
        SwinBlock(8, (8, 8), 2, window=4, shift=4)


def test_gradients_reach_bias_table():
    block = SwinBlock(8, (8, 8), 2, 4, 2)
    block(torch.randn(2, 64, 8)).sum().backward()
    assert block.attn.table.grad.abs().sum() > 0


def test_patch_merging_order():
    pm = PatchMerging((4, 4), 1)
    with torch.no_grad():
        pm.reduction.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0]]))
        pm.norm.weight.fill_(1)
    x = torch.arange(16.0).view(1, 16, 1)
    y = pm(x)
    assert y.shape == (1, 4, 2)
    want = torch.nn.functional.layer_norm(torch.tensor([0.0, 4, 1, 5]), (4,))[:2]  # (0,0),(1,0)
    torch.testing.assert_close(y[0, 0], want)


def test_flops_match_counted_matmuls_and_official_formula():
    C, M, heads = 16, 4, 2
    for side in (8, 16):
        attn = WindowAttention(C, M, heads)
        x = window_partition(torch.randn(1, side, side, C), M)
        assert matmul_macs(attn, x) == wmsa_flops(side, side, C, M)
        mha = MultiHeadAttention(C, heads)
        assert matmul_macs(mha, torch.randn(1, side * side, C)) == msa_flops(side, side, C)
    assert wmsa_flops(112, 112, 96, 7) == 4 * wmsa_flops(56, 56, 96, 7)
    # the official SwinTransformerBlock.flops() for 56x56, C=96, M=7, mlp_ratio 4, written out
    n_win, N = 64, 49
    per_window = N * 96 * 3 * 96 + 3 * N * 32 * N + 3 * N * N * 32 + N * 96 * 96
    official = 96 * 56 * 56 + n_win * per_window + 2 * 56 * 56 * 96 * 96 * 4 + 96 * 56 * 56
    assert swin_block_flops(56, 56, 96, 7) == official


def test_no_shift_model_cannot_tell_swapped_windows_apart():
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 0:2, 2:4] = 1.0          # a dot in window (0, 0) near its right edge
    x[0, 0, 2:4, 6:8] = 0.5          # a dot in window (0, 1)
    swapped = torch.cat([x[..., 4:], x[..., :4]], -1)
    for shifted in (False, True):
        net = SwinClassifier(1, 2, 8, 1, 8, (2,), (2,), 4, shifted=shifted).eval()
        with torch.no_grad():
            diff = (net(x) - net(swapped)).abs().max()
        assert (diff < 1e-5) if not shifted else (diff > 1e-4)


def test_shift_opens_the_receptive_field_across_windows():
    torch.manual_seed(0)
    for shifted, crosses in ((False, False), (True, True)):
        net = SwinClassifier(1, 2, 8, 1, 8, (2,), (2,), 4, shifted=shifted)
        x = torch.randn(1, 1, 8, 8, requires_grad=True)
        out = net.features(x)[0, 3]              # token (0, 3), the right edge of window (0, 0)
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert (grad[0, 0, :4, 4:].abs().sum() > 0) == crosses


def test_hierarchical_classifier_shapes():
    net = SwinClassifier(1, 10, 32, 2, 8, (2, 2), (2, 4), 4)
    assert net(torch.randn(3, 1, 32, 32)).shape == (3, 10)
    assert net.features(torch.randn(1, 1, 32, 32)).shape == (1, 64, 16)
