"""Sequence models, each with a parallel (training) form and a recurrent (streaming) form that
give the same outputs, and their spiking variants (Part III): ``lmu`` (Legendre Memory Unit,
LMUFormer), ``l2mu`` (an LMU of LIF populations), ``rwkv`` (RWKV and SpikeGPT),
``linear_attention`` (gated linear attention and conversion from softmax), ``spike_coding``
(adaptive-threshold integer-to-spike coding), ``egru`` (event-based GRU) and ``delta`` (delta
activations)."""
