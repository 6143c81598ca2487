"""The services' commands of the ``taskonomy`` CLI, found by the core CLI through the
``taskonomy.commands`` entry point group (pyproject.toml): the core never imports ``services``.

- :mod:`services.commands.workers` — ``taskonomy worker / submit / status / cancel / rerun``;
- :mod:`services.commands.serve` — ``taskonomy serve solver / gateway``.

Each module exposes ``register(app)`` and imports the queueing and serving stacks only inside its
commands, so ``taskonomy --help`` stays fast.
"""
