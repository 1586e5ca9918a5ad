"""w2s_lib: the helper package behind the w2s notebooks (Weak-to-Strong Reasoning, Yang, Ma, Liu 2024).

Modules are named by pipeline stage; see docs/ARCHITECTURE.md for the map.
"""
__version__ = "0.1.0"
