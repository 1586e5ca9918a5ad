"""w2s_lib: the helper package behind the w2s notebooks (Weak-to-Strong Reasoning, Yang, Ma, Liu 2024).

Modules are named by pipeline stage; see docs/ARCHITECTURE.md for the map.
"""
__version__ = "0.1.0"


def _console_bars_in_kernels_without_widgets() -> None:
    """In a Jupyter kernel without ipywidgets, `tqdm.auto` (used here and by transformers, datasets and TRL) falls
    back to console bars and warns "IProgress not found" on its first import: a warning a learner cannot act on
    inside a run, printed in every notebook. Choose the console bars here, once, without the warning (install
    ipywidgets into the environment for widget bars instead)."""
    import importlib.util
    import sys
    import warnings

    if "ipykernel.zmqshell" not in sys.modules or "tqdm.autonotebook" in sys.modules:
        return
    if importlib.util.find_spec("ipywidgets") is not None:
        return
    try:
        from tqdm import TqdmWarning
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=TqdmWarning)
        import tqdm.autonotebook  # noqa: F401  (cached: later imports of tqdm.auto use the console bar quietly)


_console_bars_in_kernels_without_widgets()
