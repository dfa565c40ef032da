import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from hypothesis import settings  # noqa: E402

# `make test` draws the same examples every run, so that a run fails only for a change
# (and CI is not flaky); HYPOTHESIS_PROFILE=explore draws new ones each time, to look
# for bugs the fixed ones miss (see the README's Tests section).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
