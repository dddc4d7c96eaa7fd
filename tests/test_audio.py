import math

import numpy as np
import pytest
import torch

from snnkit.audio import (
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    pad_clips,
    power_spectrogram,
)


def test_mel_scale_round_trip_and_anchor():
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.5)   # the HTK scale's anchor
    f = torch.tensor([0.0, 300.0, 4000.0], dtype=torch.float64)
    torch.testing.assert_close(mel_to_hz(hz_to_mel(f)), f)


def test_filterbank_shape_peaks_and_edges():
    fb = mel_filterbank(20, 256, 8000)
    assert fb.shape == (20, 129)
    assert fb.min() >= 0 and fb.max() <= 1
    centres = mel_to_hz(torch.linspace(0, hz_to_mel(4000.0), 22, dtype=torch.float64))[1:-1]
    peak_bins = fb.argmax(1).double() * 4000 / 128
    assert (peak_bins - centres).abs().max() <= 4000 / 128     # within one FFT bin
    assert torch.all(fb.argmax(1).diff() >= 0)                   # ordered low to high
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(20, 256, 8000, f_max=5000.0)


def test_power_spectrogram_matches_direct_dft():
    torch.manual_seed(0)
    x = torch.randn(2, 1000, dtype=torch.float64)
    n_fft, hop = 64, 32
    spec = power_spectrogram(x, n_fft, hop)
    assert spec.shape == (2, math.ceil(1000 / hop), n_fft // 2 + 1)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64).numpy()
    padded = np.pad(x.numpy(), ((0, 0), (0, 2000)))
    for t in (0, 7, spec.shape[1] - 1):
        frame = padded[:, t * hop:t * hop + n_fft] * window
        ref = np.abs(np.fft.rfft(frame, axis=-1)) ** 2
        np.testing.assert_allclose(spec[:, t].numpy(), ref, rtol=1e-9, atol=1e-9)


def test_frames_are_causal():
    x = torch.randn(800)
    y = x.clone()
    y[400:] = 0
    a, b = power_spectrogram(x, 256, 80), power_spectrogram(y, 256, 80)
    last_clean = (400 - 256) // 80                  # frames that end before sample 400
    torch.testing.assert_close(a[:last_clean + 1], b[:last_clean + 1])


def test_log_mel_of_a_tone_peaks_in_its_band():
    sr, f0 = 8000, 1000.0
    t = torch.arange(4000) / sr
    mel = log_mel(torch.sin(2 * math.pi * f0 * t)[None], sr, n_mels=40)
    assert mel.shape == (1, 50, 40)
    band = mel[0, 10:40].mean(0).argmax().item()
    fb = mel_filterbank(40, 256, sr)
    assert fb[band, round(f0 / (sr / 256))] > 0.5   # the loudest band covers 1 kHz


def test_pad_clips_cuts_and_pads_at_the_end():
    clips, lengths = pad_clips([torch.ones(3), torch.arange(10.0)], 5)
    assert torch.equal(clips, torch.tensor([[1.0, 1, 1, 0, 0], [0, 1, 2, 3, 4]]))
    assert lengths.tolist() == [3, 5]
