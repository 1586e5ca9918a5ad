"""`python -m w2s_lib ...`: the short form of `python -m w2s_lib.run.pipeline ...` (the headless notebook series)."""
from w2s_lib.run.pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
