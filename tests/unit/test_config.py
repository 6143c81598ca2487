"""The configuration blocks (taskonomy.contract.config): one definition of each setting and its bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from taskonomy.contract import ExperimentSpec
from taskonomy.contract.config import STRIDES, ModelConfig, TrainConfig, TrainSettings
from taskonomy.errors import InvalidInputError

BASE = {"tasks": ["normal", "depth_zbuffer"], "splits": {"train": 8, "transfer": 4, "test": 4}}


@pytest.mark.parametrize("block, values, field", [
    ("model", {"width": 0}, "width"),
    ("model", {"blocks": 17}, "blocks"),
    ("model", {"norm": "layer"}, "norm"),
    ("model", {"encoder": ""}, "encoder"),
    ("model", {"hidden": True}, "hidden"),
    ("train", {"epochs": 0}, "epochs"),
    ("train", {"lr": 10}, "lr"),
    ("train", {"lr": float("nan")}, "lr"),
    ("train", {"weight_decay": 10}, "weight_decay"),
    ("train", {"batch_size": 65_537}, "batch_size"),
    ("train", {"precision": "fp16"}, "precision"),
])
def test_a_bound_is_the_same_in_the_spec_and_in_the_block(block, values, field):
    """The spec's blocks are the classes the networks and trainers take: one set of bounds."""
    cls = ModelConfig if block == "model" else TrainConfig
    with pytest.raises(InvalidInputError, match=rf"^{cls.config_name}: {field}: "):
        cls(**values)
    for part in ((block,) if block == "model" else ("train", "transfer")):
        with pytest.raises(ValidationError) as info:
            ExperimentSpec.model_validate({**BASE, part: values})
        assert [e["loc"] for e in info.value.errors()] == [(part, field)]


def test_values_inside_the_bounds_pass_everywhere():
    edge = {"lr": 9.99, "weight_decay": 9.99, "epochs": 10_000, "batch_size": 65_536}
    spec = ExperimentSpec.parse({**BASE, "train": edge, "transfer": edge, "model": {"blocks": 16, "width": 4096}})
    assert TrainConfig(**spec.transfer.model_dump(), seed=spec.seed).lr == 9.99
    assert ModelConfig(**spec.model.model_dump()).blocks == 16


def test_train_config_adds_the_run_settings_to_the_spec_block():
    assert set(TrainConfig.model_fields) - set(TrainSettings.model_fields) == {"seed", "device", "max_steps",
                                                                              "embed_pixels"}
    with pytest.raises(InvalidInputError, match=r"device: device must be one of auto, cpu, cuda or cuda:N"):
        TrainConfig(device="tpu")
    assert TrainConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(ValidationError, match="seed"):  # the spec's blocks do not take run settings
        ExperimentSpec.model_validate({**BASE, "train": {"seed": 3}})


def test_unknown_keys_are_refused_with_the_allowed_ones():
    with pytest.raises(InvalidInputError, match=r"model config: widht: unknown key; allowed: blocks, encoder, "
                                                 r"hidden, norm, rep_channels, stride, transfer_width, width$"):
        ModelConfig.from_dict({"widht": 3})
    with pytest.raises(InvalidInputError, match="must be a mapping"):
        TrainConfig.from_dict([("epochs", 3)])  # type: ignore[arg-type]


def test_round_trip_replace_and_hash():
    cfg = TrainConfig(epochs=3, lr=0.01, seed=4)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert hash(cfg) == hash(TrainConfig.from_dict(cfg.to_dict()))
    bf16 = cfg.replace(precision="bf16")
    assert (bf16.precision, bf16.epochs, bf16.lr, bf16.seed) == ("bf16", 3, 0.01, 4)
    with pytest.raises(InvalidInputError, match="precision"):
        cfg.replace(precision="fp8")  # a copy is validated like a new block
    model = ModelConfig(width=8)
    assert model.replace(norm="group").model_fields_set == {"width", "norm"}  # unset fields stay unset
    assert ModelConfig().to_dict() == {"width": 16, "rep_channels": 8, "blocks": 2, "norm": "batch",
                                       "transfer_width": 32, "hidden": 128, "encoder": "resnet", "stride": 8}


def test_blocks_are_frozen():
    with pytest.raises(ValidationError):
        ModelConfig().width = 3  # type: ignore[misc]


def test_the_stride_is_a_model_setting_checked_against_the_image_size():
    with pytest.raises(InvalidInputError, match=r"^model config: stride: Input should be 2, 4, 8 or 16$"):
        ModelConfig(stride=3)
    strided = ExperimentSpec.parse({**BASE, "dataset": {"kind": "world", "size": 48}, "model": {"stride": 16}})
    assert strided.model.stride == 16
    with pytest.raises(InvalidInputError, match=r"dataset.size 40 must be a positive multiple of the encoder stride 16"
                       ):
        ExperimentSpec.parse({**BASE, "dataset": {"kind": "world", "size": 40}, "model": {"stride": 16}})
    assert set(STRIDES) == {2, 4, 8, 16}
