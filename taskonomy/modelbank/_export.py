"""Export an experiment's networks to a folder: ``<name>.safetensors`` + ``<name>.json`` (its card)
each, and ``models.json`` listing them. The weights load with :func:`taskonomy.training.load_network`
and the project's builders (:func:`taskonomy.nets.build_task_network` / ``build_transfer``)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from taskonomy.files import atomic_write, check_writable_dir
from taskonomy.modelbank._listing import Experiment, list_models

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def export_name(card: dict[str, Any]) -> str:
    """``task.<task>-<digest>`` or ``transfer.<sources>-to-<target>-<digest>`` (file-name safe)."""
    digest = str(card["weights"]).rsplit("-", 1)[-1][:10]
    if card["role"] == "transfer":
        stem = f"transfer.{'+'.join(card['sources'])}-to-{card['task']}-{digest}"
    else:
        stem = f"task.{card['task']}-{digest}"
    return _UNSAFE.sub("_", stem)


def export_models(exp: Experiment, out_dir: str | os.PathLike[str], *, roles: tuple[str, ...] | None = None
                  ) -> list[dict[str, Any]]:
    """Write every trained network of ``exp`` (optionally only ``roles``) with its card; returns the
    index entries (``name``, ``weights`` file, ``card`` file, ``task``, ``role``, ``sha256``)."""
    out = check_writable_dir(out_dir, what="export directory")
    index: list[dict[str, Any]] = []
    for card in list_models(exp):
        if roles is not None and card["role"] not in roles:
            continue
        name = export_name(card)
        blob = exp.store.get_bytes(card["weights"])
        atomic_write(os.path.join(out, f"{name}.safetensors"), blob)
        atomic_write(os.path.join(out, f"{name}.json"), json.dumps(card, indent=1, sort_keys=True).encode())
        index.append({"name": name, "weights": f"{name}.safetensors", "card": f"{name}.json", "task": card["task"],
                      "role": card["role"], "sources": card["sources"], "sha256": card["sha256"]})
    atomic_write(os.path.join(out, "models.json"),
           json.dumps({"experiment": exp.id, "models": index}, indent=1, sort_keys=True).encode())
    return index

