"""The model bank: cards and downloads of an experiment's trained networks, and predictions.

>>> from taskonomy.modelbank import card_key
>>> card_key("nets/normal-0123")
'nets/normal-0123.card.json'

Where things live (import them from ``taskonomy.modelbank``; ``predict`` is a public module):

- ``_cards``: a network's model card (:func:`build_card`, :data:`MODEL_ROLES`: ``task_specific``
  or ``transfer``, not the spec's task roles), card and index keys;
- ``_listing``: an experiment's networks found from its spec and store, ``experiment.json``;
- ``_export``: the networks exported to a folder; ``_image``: uploaded images, checked and decoded;
- ``predict``: every task's prediction for one image or world sample, drawn as PNGs.

Listing, cards and image decoding need no torch (the gateway uses them); prediction
(:mod:`taskonomy.modelbank.predict`) does and is imported on demand. The model bank reads what a
run wrote (its keys, e.g. :func:`~taskonomy.contract.keys.transfer_weights_key`, come from
:mod:`taskonomy.contract`); execution (:mod:`taskonomy.execution`) never imports it.
"""

from __future__ import annotations

from taskonomy.contract.keys import transfer_weights_key  # where a transfer job stores its weights
from taskonomy.modelbank._cards import (
    CARD_FIELDS,
    CARD_FORMAT,
    MODEL_ROLES,
    ModelEntry,
    build_card,
    card_key,
    index_key,
    read_card,
    weights_header,
)
from taskonomy.modelbank._export import export_models, export_name
from taskonomy.modelbank._image import (
    IMAGE_FORMATS,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_SIDE,
    MIN_IMAGE_SIDE,
    ImageDimensionsError,
    ImageTooLargeError,
    UnsupportedImageError,
    decode_image,
    encode_png,
    fit_image,
)
from taskonomy.modelbank._listing import (
    MANIFEST,
    Experiment,
    chosen_transfers,
    list_models,
    manifest,
    manifest_key,
    model_entries,
    open_experiment,
    write_manifest,
)

__all__ = [
    "CARD_FIELDS", "CARD_FORMAT", "IMAGE_FORMATS", "MANIFEST", "MAX_IMAGE_BYTES", "MAX_IMAGE_SIDE", "MIN_IMAGE_SIDE",
    "MODEL_ROLES", "Experiment", "ImageDimensionsError", "ImageTooLargeError", "ModelEntry", "UnsupportedImageError",
    "build_card", "card_key", "chosen_transfers", "decode_image", "encode_png", "export_models", "export_name",
    "fit_image", "index_key", "list_models", "manifest", "manifest_key", "model_entries", "open_experiment",
    "read_card", "transfer_weights_key", "weights_header", "write_manifest",
]
