"""Replication of Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (AdamW), and Smith's CLR.

Importing the package is cheap on purpose (no torch): start-up is a first-class cost for short runs.
"""

__version__ = "0.1.0"
