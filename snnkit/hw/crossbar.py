"""A resistive-memory (memristor, RRAM) crossbar that stores weights as conductances.

Each weight is a differential pair of cells, ``W ~ (G+ - G-) / g_unit``; a read applies voltages
``v`` (V) to the rows and the column currents are ``I = v @ G`` (A) by Ohm's and Kirchhoff's laws.
The non-idealities, each a knob with its unit:

- ``levels``: a cell holds one of ``levels`` conductances evenly spaced in ``[g_min, g_max]``
  (siemens); ``None`` for an analogue cell;
- ``d2d``: device-to-device variability, a fixed lognormal gain per cell (sigma of log-gain);
- ``c2c``: cycle-to-cycle programming noise, Gaussian, relative to the range, drawn anew at each
  programming;
- ``read_noise``: multiplicative Gaussian noise on each cell at each read (relative sigma), drawn
  independently for every input vector;
- stochastic switching: :meth:`Crossbar.program_random` SETs each cell with probability
  ``p_set`` to a lognormal low-resistance state, else leaves it in the high-resistance state:
  random weights for free, as the LSM of Lin et al. uses.

Wiring is ideal: no IR drop along the lines, no sneak paths, no ADC quantisation (a real 256 Kb
macro has all three). Defaults follow 40 nm RRAM orders of magnitude: 1 uS to 100 uS, 0.2 V reads
of 10 ns.

Bookkeeping: ``reads`` counts input vectors applied (one read drives every cell once, so an array
does ``reads x rows x cols`` analogue multiply-accumulates, :attr:`Crossbar.macs`), and
``energy_j`` sums the Joule heat of the cells during those reads, ``sum v^2 G t_read`` (the array
alone: drivers, sense amplifiers and ADCs, which dominate a real macro, are not modelled).
"""

from __future__ import annotations

import torch


class Crossbar:
    """``rows x cols`` differential crossbar; ``weights()`` is ``[rows, cols]``.

    Args:
        rows, cols: array size (inputs, outputs).
        g_min, g_max: conductance range of one cell, in siemens.
        levels: programmable conductance levels per cell (``None``: analogue).
        d2d: sigma of the per-cell lognormal gain (fixed for the array's life).
        c2c: sigma of the programming noise, as a fraction of ``g_max - g_min``.
        read_noise: sigma of the per-read multiplicative noise.
        v_read: read voltage for a unit input, in volts.
        t_read: duration of one read pulse, in seconds (for ``energy_j``).
        seed: seeds the array's own generator (variability, programming and reads).
    """

    def __init__(self, rows: int, cols: int, g_min: float = 1e-6, g_max: float = 1e-4,
                 levels: int | None = None, d2d: float = 0.0, c2c: float = 0.0,
                 read_noise: float = 0.0, v_read: float = 0.2, t_read: float = 1e-8,
                 seed: int = 0):
        if not 0 < g_min < g_max:
            raise ValueError(f"need 0 < g_min < g_max, got {g_min}, {g_max}")
        if levels is not None and levels < 2:
            raise ValueError(f"levels must be >= 2 or None, got {levels}")
        self.rows, self.cols = rows, cols
        self.g_min, self.g_max, self.levels = g_min, g_max, levels
        self.c2c, self.read_noise, self.v_read, self.t_read = c2c, read_noise, v_read, t_read
        self.gen = torch.Generator().manual_seed(seed)
        shape = (2, rows, cols)                                   # (G+, G-)
        self.gain = torch.exp(d2d * torch.randn(shape, generator=self.gen, dtype=torch.float64))
        self.g = torch.full(shape, g_min, dtype=torch.float64)    # conductances, S
        self.scale = 1.0                                          # weight units per g range
        self.reads = 0                                            # input vectors applied
        self.energy_j = 0.0                                       # cell energy of those reads

    @property
    def g_range(self) -> float:
        return self.g_max - self.g_min

    @property
    def macs(self) -> int:
        """Analogue multiply-accumulates done so far: every cell, at every read."""
        return self.reads * self.rows * self.cols

    def quantize(self, g: torch.Tensor) -> torch.Tensor:
        """Snap conductances to the nearest of ``levels`` values in ``[g_min, g_max]``."""
        g = g.clamp(self.g_min, self.g_max)
        if self.levels is None:
            return g
        step = self.g_range / (self.levels - 1)
        return self.g_min + torch.round((g - self.g_min) / step) * step

    def program(self, W: torch.Tensor, scale: float | None = None) -> Crossbar:
        """Write weights ``W`` ``[rows, cols]``: positive parts on G+, negative on G-, mapped so
        ``|W| = scale`` uses the full range (default ``scale = max |W|``), then quantised, then
        disturbed by programming noise and each cell's fixed gain."""
        W = W.detach().to(torch.float64)
        if W.shape != (self.rows, self.cols):
            raise ValueError(f"W must be {(self.rows, self.cols)}, got {tuple(W.shape)}")
        self.scale = float(scale if scale is not None else W.abs().max().clamp_min(1e-12))
        parts = torch.stack([W.clamp_min(0), (-W).clamp_min(0)]) / self.scale
        g = self.quantize(self.g_min + self.g_range * parts)
        noise = self.c2c * self.g_range * torch.randn(g.shape, generator=self.gen,
                                                      dtype=torch.float64)
        self.g = ((g + noise) * self.gain).clamp(self.g_min / 10, self.g_max * 2)
        return self

    def program_random(self, p_set: float = 0.5, mu: float = -9.9, sigma: float = 0.5
                       ) -> Crossbar:
        """Stochastic switching: each cell SETs with probability ``p_set`` to a conductance
        ``exp(N(mu, sigma))`` siemens (lognormal; default median 50 uS), else stays at
        ``g_min``. The weights ``(G+ - G-) / g_range`` are then random, zero-mean and sparse."""
        shape = self.g.shape
        setted = torch.rand(shape, generator=self.gen, dtype=torch.float64) < p_set
        lrs = torch.exp(mu + sigma * torch.randn(shape, generator=self.gen, dtype=torch.float64))
        g = torch.where(setted, lrs.clamp(self.g_min, self.g_max), torch.full_like(lrs,
                                                                                self.g_min))
        self.g = self.quantize(g) * self.gain
        self.scale = 1.0
        return self

    def weights(self) -> torch.Tensor:
        """The effective weights ``(G+ - G-) * scale / g_range`` ``[rows, cols]`` (no read
        noise), in the units ``program`` was given."""
        return ((self.g[0] - self.g[1]) * self.scale / self.g_range).float()

    def currents(self, v: torch.Tensor) -> torch.Tensor:
        """Column currents (A) ``[..., cols]`` for row voltages ``v`` (V) ``[..., rows]``: the
        differential pair's ``v @ G+ - v @ G-``. Each input vector is one read, with every cell
        disturbed by that read's own noise ``G (1 + read_noise * eps)``. The cells' noises are
        independent, so a column's noisy current is drawn exactly as
        ``I + read_noise * sqrt(v^2 @ (G+^2 + G-^2)) * eps`` (one normal per column and read).
        Computed in float32 unless ``v`` is float64."""
        dtype = torch.float64 if v.dtype == torch.float64 else torch.float32
        v, g_pos, g_neg = v.to(dtype), self.g[0].to(dtype), self.g[1].to(dtype)
        self.reads += v.numel() // self.rows
        v2 = v * v
        per_row = v2.reshape(-1, self.rows).sum(0)                # sum of v^2 over the reads
        self.energy_j += float(per_row @ (g_pos + g_neg).sum(1)) * self.t_read
        i = v @ (g_pos - g_neg)
        if self.read_noise > 0:
            sd = (v2 @ (g_pos ** 2 + g_neg ** 2)).sqrt()
            i = i + self.read_noise * sd * torch.randn(i.shape, generator=self.gen, dtype=dtype)
        return i

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W`` computed in the array: inputs encoded as read voltages ``x * v_read``,
        currents sensed and scaled back to weight units.
        ``x`` ``[..., rows]`` -> ``[..., cols]``."""
        i = self.currents(x * self.v_read)
        return (i * self.scale / (self.g_range * self.v_read)).float()
