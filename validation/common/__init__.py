"""Pieces every experiment shares: dataclass-driven CLI options, executor options, cache keys, results files,
runtime settings.

* ``validation.common.options`` — argparse options built from (nested) config dataclasses;
* ``validation.common.execution`` — the sweep executors' command-line options (``--executor``,
  ``--workers``, ``--scheduler``) and their checks;
* ``validation.common.keys`` — cache and resume keys derived from the whole compute config;
* ``validation.common.results`` — results files (npz + JSON) written atomically and read
  back with validation of format, keys, shapes and version;
* ``validation.common.runtime`` — thread counts and the matplotlib backend, set only by a
  CLI or inside a context that restores them.
"""
