"""Networks: the shared encoder, the decoders per output kind, transfer functions.

Their architecture is one :class:`~taskonomy.contract.config.ModelConfig` (defined with its bounds in
:mod:`taskonomy.contract.config`, torch-free, re-exported here), including the encoder's ``stride``.

>>> from taskonomy.nets import ModelConfig, build_task_network
>>> from taskonomy.tasks import get_task
>>> net = build_task_network(get_task("normal"), ModelConfig(), size=32)
"""

from __future__ import annotations

from taskonomy.contract.config import NORMS, STRIDES, ModelConfig
from taskonomy.nets.decoders import DECODERS, build_decoder, decoder_family
from taskonomy.nets.encoder import ENCODERS, build_encoder
from taskonomy.nets.network import (
    NORMALISED_KINDS,
    TargetNorm,
    TaskNetwork,
    TransferFunction,
    TransferNetwork,
    build_task_network,
    build_transfer,
    seeded,
)

__all__ = [
    "DECODERS", "ENCODERS", "NORMALISED_KINDS", "NORMS", "STRIDES", "ModelConfig", "TargetNorm", "TaskNetwork",
    "TransferFunction", "TransferNetwork", "build_decoder", "build_encoder", "build_task_network", "build_transfer",
    "decoder_family", "seeded",
]
