"""The ``lead-rules`` command line (:mod:`.main`) and its demo (:mod:`.demo`): the top of the pipeline.

May import every other sub-package; nothing imports it. See docs/architecture.md.
"""

from .main import main

__all__ = ["main"]
