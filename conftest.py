"""Repository-wide pytest set-up: where PyTorch (the ``torch`` extra) is not installed, the
doctests of the torch-only packages are not collected (their tests skip on their own)."""

import importlib.util

TORCH_ONLY = ["src/labelwise/losses/*", "src/labelwise/models/*"]
collect_ignore_glob = [] if importlib.util.find_spec("torch") else TORCH_ONLY
