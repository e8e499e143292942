"""Lead scoring for CodePro: data, training and inference pipelines over a staging database."""

__version__ = "0.1.0"
