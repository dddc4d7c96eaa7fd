"""The chapter registry: one list read by the table of contents, the CLI and the tests."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"

PARTS = {
    "0": "Part 0. Foundations",
    "I": "Part I. Transformers and their spiking descendants",
    "II": "Part II. Training spiking networks efficiently",
    "III": "Part III. Sequences and language",
    "IV": "Part IV. Time, delays and prediction",
    "V": "Part V. Neuromorphic hardware",
    "VI": "Part VI. Events, points and generation",
    "VII": "Part VII. Efficient transformers beyond spikes",
}


@dataclass(frozen=True)
class Chapter:
    """One chapter: ``id`` (e.g. "F2"), ``slug``, ``part`` (a key of PARTS), ``title``, the
    ``paper`` it follows, its ``notebook`` under ``book/``, ``quick_seconds`` (a quick run's
    measured execution time, kernel start included, on an idle 2-core machine, rounded up to
    5 s; ``snnkit run`` adds about 3 s of its own start-up) and the datasets it reads."""

    id: str
    slug: str
    part: str
    title: str
    paper: str
    notebook: str
    quick_seconds: int
    data: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return BOOK / self.notebook

    def presets(self) -> dict[str, dict]:
        """The knobs of each mode, read statically from the notebook's ``setup(presets=...)``
        call (literal dicts or ``dict(...)`` of literals by convention), e.g.
        ``{"quick": {"T": 8}, "full": {"T": 25}}``."""
        cells = json.loads(self.path.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            if "setup(" not in source:
                continue
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
                    for kw in node.keywords:
                        if kw.arg == "presets":
                            return _literal(kw.value)
        raise ValueError(f"{self.notebook}: no setup(presets=...) call with literal presets")


CHAPTERS = [
    Chapter("F1", "lif-neuron", "0", "The leaky integrate-and-fire neuron",
            "Lapicque 1907; Gerstner et al., Neuronal Dynamics (2014), ch. 1",
            "part0/f1_lif_neuron.ipynb", 10),
    Chapter("F2", "surrogate-gradients", "0", "Learning with surrogate gradients",
            "Neftci, Mostafa & Zenke, Surrogate Gradient Learning in SNNs (2019), arXiv:1901.09948",
            "part0/f2_surrogate_gradients.ipynb", 20, ("digits",)),
    Chapter("F3", "encoding-energy", "0", "Spike encodings, sparsity and energy",
            "Horowitz, Computing's energy problem (ISSCC 2014); Orchard et al., N-MNIST (2015)",
            "part0/f3_encoding_energy.ipynb", 25, ("digits", "nmnist_small")),
    Chapter("1.1", "transformer-applications", "I", "Attention from scratch, across domains",
            "Islam et al., A Comprehensive Survey on Applications of Transformers for Deep "
            "Learning Tasks (2023), arXiv:2306.07303",
            "part1/ch1_1_transformer_applications.ipynb", 35,
            ("tinyshakespeare", "digits")),
    Chapter("1.2", "metaformer", "I", "MetaFormer: the block, not the mixer",
            "Yu et al., MetaFormer Is Actually What You Need for Vision (CVPR 2022), "
            "arXiv:2111.11418",
            "part1/ch1_2_metaformer.ipynb", 40, ("mnist5k",)),
    Chapter("1.3", "swin", "I", "Shifted windows",
            "Liu et al., Swin Transformer (ICCV 2021), arXiv:2103.14030",
            "part1/ch1_3_swin.ipynb", 35, ("mnist5k",)),
    Chapter("1.4", "spikformer-v2", "I", "Spiking self-attention without softmax",
            "Zhou et al., Spikformer V2 (2024), arXiv:2401.02020",
            "part1/ch1_4_spikformer_v2.ipynb", 40, ("digits",)),
    Chapter("1.5", "spike-driven-v2", "I", "Spike-driven attention and Meta-SpikeFormer",
            "Yao et al., Spike-driven Transformer V2 (ICLR 2024), arXiv:2404.03663",
            "part1/ch1_5_spike_driven_v2.ipynb", 45, ("mnist5k",)),
    Chapter("1.6", "maxformer", "I", "Spiking networks need high frequencies",
            "Fang et al., Spiking Neural Networks Need High Frequency Information (2025), "
            "arXiv:2505.18608",
            "part1/ch1_6_maxformer.ipynb", 50, ("digits", "mnist5k")),
    Chapter("1.7", "qsd-transformer", "I", "Quantised spike-driven transformers",
            "Qiu et al., Quantized Spike-driven Transformer (ICLR 2025), arXiv:2501.13492",
            "part1/ch1_7_qsd_transformer.ipynb", 55, ("digits",)),
    Chapter("1.8", "step", "I", "A fair benchmark of spiking transformers",
            "Shen et al., STEP: A Unified Spiking Transformer Evaluation Platform (2025), "
            "arXiv:2505.11151",
            "part1/ch1_8_step.ipynb", 60, ("digits",)),
    Chapter("2.1", "pretraining-bridge", "II", "Pre-training as a bridge from ANNs to SNNs",
            "Lin et al., Rethinking Pretraining as a Bridge from ANNs to SNNs (2022), "
            "arXiv:2203.01158",
            "part2/ch2_1_pretraining_bridge.ipynb", 30, ("digits",)),
    Chapter("2.2", "sltt", "II", "Memory-efficient training through time (SLTT)",
            "Meng et al., Towards Memory- and Time-Efficient Backpropagation for Training SNNs "
            "(ICCV 2023), arXiv:2302.14311",
            "part2/ch2_2_sltt.ipynb", 35, ("digits",)),
    Chapter("2.3", "one-timestep", "II", "One time step is all you need",
            "Chowdhury, Rathi & Roy, One Timestep is All You Need (2021), arXiv:2110.05929",
            "part2/ch2_3_one_timestep.ipynb", 30, ("digits",)),
    Chapter("2.4", "dynamic-confidence", "II", "Stopping early on dynamic confidence",
            "Li, Jones & Furber, Unleashing the Potential of SNNs by Dynamic Confidence "
            "(ICCV 2023), arXiv:2303.10276",
            "part2/ch2_4_dynamic_confidence.ipynb", 20, ("digits",)),
    Chapter("2.5", "static-to-event", "II", "From static images to event streams",
            "He et al., An Efficient Knowledge Transfer Strategy for SNNs from Static to Event "
            "Domain (AAAI 2024), arXiv:2303.13077",
            "part2/ch2_5_static_to_event.ipynb", 35, ("mnist5k", "nmnist_small")),
    Chapter("2.6", "hlop", "II", "Continual learning by Hebbian orthogonal projection",
            "Xiao et al., Hebbian Learning based Orthogonal Projection for Continual Learning "
            "of SNNs (ICLR 2024), arXiv:2402.11984",
            "part2/ch2_6_hlop.ipynb", 30, ("digits",)),
    Chapter("3.1", "lmuformer", "III", "LMUFormer: Legendre memory, streaming",
            "Liu, Datta, Li & Beerel, LMUFormer: Low Complexity Yet Powerful "
            "Spiking Model With Legendre Memory Units (ICLR 2024), arXiv:2402.04882",
            "part3/ch3_1_lmuformer.ipynb", 40, ("fsdd",)),
    Chapter("3.2", "l2mu", "III", "An LMU made of spiking neurons",
            "Fra, Leto, Pignata, Macii & Urgese, Natively neuromorphic LMU architecture for "
            "encoding-free SNN-based HAR on commercial edge devices (ICANN 2024), "
            "arXiv:2407.04076",
            "part3/ch3_2_l2mu.ipynb", 35),
    Chapter("3.3", "spikegpt", "III", "SpikeGPT: a spiking RWKV language model",
            "Zhu, Zhao, Li & Eshraghian, SpikeGPT: Generative Pre-trained Language Model with "
            "Spiking Neural Networks (TMLR 2024), arXiv:2302.13939",
            "part3/ch3_3_spikegpt.ipynb", 35, ("tinyshakespeare",)),
    Chapter("3.4", "spikingbrain", "III", "Linear attention and spike coding (SpikingBrain)",
            "Pan et al., SpikingBrain Technical Report: Spiking Brain-inspired Large Models "
            "(2025), arXiv:2509.05276",
            "part3/ch3_4_spikingbrain.ipynb", 30, ("tinyshakespeare",)),
    Chapter("3.5", "egru-spinnaker2", "III", "An event-based GRU language model on SpiNNaker",
            "Khan Nazeer et al., Language Modeling on a SpiNNaker 2 Neuromorphic Chip (2023), "
            "arXiv:2312.09084; Subramoney et al., EGRU (ICLR 2023), arXiv:2206.06178",
            "part3/ch3_5_egru_spinnaker2.ipynb", 30, ("tinyshakespeare",)),
    Chapter("3.6", "delta-activation", "III", "Training for temporal sparsity: delta activations",
            "Yousefzadeh & Sifalakis, Training for temporal sparsity in deep neural networks, "
            "application in video processing (2021), arXiv:2107.07305",
            "part3/ch3_6_delta_activation.ipynb", 35, ("nmnist_small",)),
    Chapter("5.1", "sfq", "V", "Superconducting spikes: single flux quanta",
            "Krylov, Edwards, Friedman & Friedman, Deep Neuromorphic Networks with "
            "Superconducting Single Flux Quanta (2023), arXiv:2311.10721",
            "part5/ch5_1_sfq.ipynb", 30),
    Chapter("5.2", "memristor-lsm", "V", "A memristor liquid state machine, zero-shot",
            "Lin et al., Resistive memory-based zero-shot liquid state machine for multimodal "
            "event data learning (Nature Computational Science 2025), arXiv:2307.00771",
            "part5/ch5_2_memristor_lsm.ipynb", 35, ("nmnist_small", "fsdd")),
    Chapter("5.3", "hippocampus-cam", "V", "A hippocampal memory on SpiNNaker",
            "Casanueva-Morato et al., Bio-inspired computational memory model of the "
            "Hippocampus (Neural Networks 2024), arXiv:2310.05868",
            "part5/ch5_3_hippocampus_cam.ipynb", 25),
    Chapter("5.4", "place-recognition", "V", "Ensembles of small SNNs for place recognition",
            "Hussaini, Milford & Fischer, Ensembles of Compact, Region-specific & Regularized "
            "SNNs for Scalable Place Recognition (ICRA 2023), arXiv:2209.08723",
            "part5/ch5_4_place_recognition.ipynb", 20),
    Chapter("5.5", "blimp-pid", "V", "An evolved spiking controller for a blimp",
            "Burgers, Stroobants & de Croon, Evolving Spiking Neural Networks to Mimic PID "
            "Control for Autonomous Blimps (2023), arXiv:2309.12937",
            "part5/ch5_5_blimp_pid.ipynb", 30),
]


def _literal(node: ast.expr):
    """``ast.literal_eval`` that also accepts ``dict(name=literal, ...)`` calls."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict" and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    return ast.literal_eval(node)


def find(key: str) -> Chapter:
    """A chapter by id (``F2``, case-insensitive) or slug (``surrogate-gradients``)."""
    for ch in CHAPTERS:
        if key.lower() in (ch.id.lower(), ch.slug):
            return ch
    known = ", ".join(f"{c.id} ({c.slug})" for c in CHAPTERS)
    raise KeyError(f"no chapter {key!r}; chapters: {known}")


def toc() -> str:
    """The Jupyter Book ``_toc.yml`` for the registered chapters, grouped by part."""
    lines = ["# Written by `snnkit toc` from snnkit/chapters.py; do not edit by hand.",
             "format: jb-book", "root: intro", "parts:"]
    for key, caption in PARTS.items():
        chapters = [c for c in CHAPTERS if c.part == key]
        if chapters:
            lines += [f"  - caption: \"{caption}\"", "    chapters:"]
            lines += [f"      - file: {Path(c.notebook).with_suffix('')}" for c in chapters]
    return "\n".join(lines) + "\n"
