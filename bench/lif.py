"""Multi-step LIF, forward + backward (surrogate gradient, float32, CPU), side by side.

    python bench/lif.py [--shapes 4x32x4096,16x32x4096,64x16x1024] [--repeat 7]

Times snnkit's fused LIF (eager, and compiled with torch.compile: compiling happens before the
timed runs) against snnTorch's ``Leaky`` stepped in a Python loop (as its tutorials do),
SpikingJelly's multi-step ``LIFNode`` (torch backend) and a plain PyTorch loop (snnkit's
reference), in one process, and prints medians, ratios and the smallest speed-up over snnTorch
(of the eager path alone, then of snnkit's faster path at each shape).
snnkit, snnTorch and the plain loop run the same model (beta 0.9, threshold 1, reset by
subtraction, arctan surrogate) and are checked equal at every shape first; SpikingJelly's LIF is
a different model (it fires on >=, scales its input by 1/tau and resets without delay), timed at
tau=10.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from snnkit.functional import ATan, lif_sequence, lif_sequence_reference

BETA = 0.9


def snnkit_fused(x):
    return lif_sequence(x, BETA, surrogate=ATan(2.0))[0]


def snnkit_compiled(x):
    return lif_sequence(x, BETA, surrogate=ATan(2.0), compiled=True)[0]


def plain_loop(x):
    return lif_sequence_reference(x, BETA, surrogate=ATan(2.0))[0]


def make_snntorch():
    import snntorch
    from snntorch import surrogate

    def run(x):
        leaky = snntorch.Leaky(beta=BETA, spike_grad=surrogate.atan(2.0))
        mem, out = torch.zeros_like(x[0]), []
        for x_t in x:
            spk, mem = leaky(x_t, mem)
            out.append(spk)
        return torch.stack(out)
    return run


def make_spikingjelly():
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except ImportError:
        return None

    def run(x):
        node = neuron.LIFNode(tau=1 / (1 - BETA), step_mode="m", backend="torch",
                              surrogate_function=surrogate.ATan(), detach_reset=True)
        return node(x)
    return run


def timed(impls, x, repeat):
    """Median seconds of forward + backward of each implementation on a fresh leaf copy of
    ``x``. The implementations take turns, so a change in the machine's load hits all alike."""
    times = {name: [] for name in impls}
    for i in range(repeat + 1):
        for name, fn in impls.items():
            leaf = x.detach().requires_grad_()
            start = time.perf_counter()
            fn(leaf).sum().backward()
            if i:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


SAME_MODEL = ("snnkit (fused)", "snnkit (compiled)", "snntorch Leaky loop", "plain PyTorch loop")


def check_same(x, impls):
    """snnkit (both paths), snnTorch and the plain loop must give the same spikes and input
    gradients."""
    results = {}
    for name in SAME_MODEL:
        leaf = x.detach().requires_grad_()
        spikes = impls[name](leaf)
        (spikes * torch.linspace(-1, 1, spikes.numel()).view_as(spikes)).sum().backward()
        results[name] = (spikes.detach(), leaf.grad)
    ref_s, ref_g = results["snntorch Leaky loop"]
    for name, (s, g) in results.items():
        if not torch.equal(s, ref_s):
            raise AssertionError(f"{name}: spikes differ from snnTorch")
        torch.testing.assert_close(g, ref_g, rtol=1e-4, atol=1e-5, msg=f"{name}: gradients")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="4x32x4096,16x32x4096,64x16x1024",
                        help="comma-separated TxBxN")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    impls = {"snnkit (fused)": snnkit_fused, "snnkit (compiled)": snnkit_compiled,
             "snntorch Leaky loop": make_snntorch(), "plain PyTorch loop": plain_loop}
    jelly = make_spikingjelly()
    if jelly is not None:
        impls["spikingjelly LIFNode (m)"] = jelly
    torch.manual_seed(0)
    inputs = {shape: torch.randn(shape) * 0.8 + 0.3 for shape in shapes}
    for x in inputs.values():
        check_same(x, impls)          # also compiles the compiled path for every shape
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; same spikes and "
          "gradients at every shape: snnkit (fused, compiled) == snntorch == plain loop")
    per_shape = [timed(impls, inputs[s], args.repeat) for s in shapes]
    medians = {name: [m[name] for m in per_shape] for name in impls}
    head = "".join(f"{'x'.join(map(str, s)):>24}" for s in shapes)
    print(f"\n{'median ms (x slower than snnkit)':<28}{head}")
    base = medians["snnkit (fused)"]
    for name, times in medians.items():
        cells = "".join(f"{t * 1e3:>14.2f} ({t / b:>5.1f}x)" for t, b in zip(times, base,
                                                                               strict=True))
        print(f"{name:<28}{cells}")
    def min_speedup(names):
        return min(ref / min(medians[n][i] for n in names)
                   for i, ref in enumerate(medians["snntorch Leaky loop"]))

    print(f"\nmin speed-up vs snntorch, eager path only: {min_speedup(['snnkit (fused)']):.1f}x")
    print(f"min speed-up vs snntorch: "
          f"{min_speedup(['snnkit (fused)', 'snnkit (compiled)']):.1f}x")


if __name__ == "__main__":
    main()
