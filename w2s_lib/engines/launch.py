"""Training jobs in a process of their own: `python -m w2s_lib.engines.train_job ...` (launcher `process`) or
`accelerate launch -m w2s_lib.engines.train_job ...` (launcher `accelerate`: DDP, DeepSpeed ZeRO-3, FSDP)."""
from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path


from w2s_lib.engines import relay
from w2s_lib.run.jsonl import DataError, write_jsonl
from w2s_lib.run.paths import REPO_ROOT

from w2s_lib.engines.recipes import ACCELERATE_CONFIGS_DIR, Recipe, gpu_available, load_recipe, load_rows

# ---------------------------------------------------------------------------------------------------------------
# accelerate launcher: the same stage as `accelerate launch -m w2s_lib.engines.train_job ...` in a child process group.
# ---------------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_command(recipe_path: str, model_path: str, data_path: str, out_dir: str, *, seed: int,
                launcher: str = "accelerate", num_processes: int = 1,
                accelerate_config: str | os.PathLike | None = None, metrics_path: str | None = None,
                threads: int | None = None, log_dir: str | None = None) -> list[str]:
    """The command line of a training job: `python -m w2s_lib.engines.train_job ...` (launcher `process`) or
    `accelerate launch --config_file ... -m w2s_lib.engines.train_job ...` (printed by the notebooks for GPUs)."""
    if launcher == "process":
        cmd = [sys.executable, "-m", "w2s_lib.engines.train_job"]
    else:
        config = Path(accelerate_config) if accelerate_config else ACCELERATE_CONFIGS_DIR / "ddp.yaml"
        if not config.exists():
            named = ACCELERATE_CONFIGS_DIR / f"{config.name.removesuffix('.yaml')}.yaml"
            if not named.exists():
                raise DataError(f"{accelerate_config}: no such accelerate config (see {ACCELERATE_CONFIGS_DIR})")
            config = named
        accelerate_bin = Path(sys.executable).with_name("accelerate")
        cmd = ([str(accelerate_bin), "launch"] if accelerate_bin.exists()
               else [sys.executable, "-m", "accelerate.commands.launch"])
        cmd += ["--config_file", str(config), "--num_processes", str(num_processes),
                "--main_process_port", str(_free_port())]
        if not gpu_available():
            # the GPU configs ask for bf16; CPU processes train in float32 (build_trl_config forces it too)
            cmd += ["--mixed_precision", "no"]
        cmd += ["-m", "w2s_lib.engines.train_job"]
    cmd += ["--recipe", recipe_path, "--model", model_path, "--data", data_path, "--out", out_dir,
            "--seed", str(seed)]
    if metrics_path:
        cmd += ["--metrics", metrics_path]
    if threads:
        cmd += ["--threads", str(threads)]
    if log_dir:
        cmd += ["--log-dir", str(log_dir)]
    return cmd


def accelerate_command(recipe_path: str, model_path: str, data_path: str, out_dir: str, *, seed: int,
                       num_processes: int, accelerate_config: str | os.PathLike | None = None,
                       metrics_path: str | None = None) -> list[str]:
    """The `accelerate launch -m w2s_lib.engines.train_job ...` command line for a stage."""
    return job_command(recipe_path, model_path, data_path, out_dir, seed=seed, launcher="accelerate",
                       num_processes=num_processes, accelerate_config=accelerate_config, metrics_path=metrics_path)


def run_job(recipe: str | os.PathLike | dict | Recipe, model_path: str, rows: str | os.PathLike, out_dir: str,
            *, seed: int, threads: int | None = None, log_dir: str | None = None) -> dict:
    """What each process of a training job runs (`python -m w2s_lib.engines.train_job`): train and save, no merge."""
    r = load_recipe(recipe)
    if r.kind == "classifier":              # a plain transformers Trainer (w2s_lib.engines.classifier), not TRL
        from w2s_lib.engines.classifier import _train_inprocess
    else:
        from w2s_lib.engines.training import _train_inprocess
    return _train_inprocess(r, model_path, load_rows(rows, r.kind), Path(out_dir), seed=seed, overrides=None,
                            threads=threads, log_dir=log_dir)


def _train_child(r: Recipe, model_path: str, rows: list[dict], out_dir: Path, *, seed: int, launcher: str,
                 num_processes: int, accelerate_config: str | os.PathLike | None, overrides: dict | None,
                 threads: int | None, log_dir: str | os.PathLike | None) -> dict:
    import yaml

    with tempfile.TemporaryDirectory(prefix="w2s-train-") as tmp:
        recipe_path, data_path = Path(tmp) / "recipe.yaml", Path(tmp) / "rows.jsonl"
        recipe_dict = r.to_dict()
        recipe_dict["trl"] = {**recipe_dict["trl"], **(overrides or {})}
        recipe_path.write_text(yaml.safe_dump(recipe_dict, sort_keys=False))
        write_jsonl(data_path, rows)
        metrics_path = Path(tmp) / "metrics.json"
        cmd = job_command(str(recipe_path), model_path, str(data_path), str(out_dir), seed=seed, launcher=launcher,
                          num_processes=num_processes, accelerate_config=accelerate_config,
                          metrics_path=str(metrics_path), threads=threads,
                          log_dir=str(log_dir) if log_dir else None)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
        if not gpu_available():
            env.setdefault("DS_ACCELERATOR", "cpu")   # DeepSpeed's CPU accelerator, chosen without a warning
        if not gpu_available() and launcher == "accelerate":
            # Each CPU process gets its share of the cores instead of all of them (oversubscription is slow).
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // num_processes)))
        code = relay.run(cmd, env=env)          # its output shows under the calling cell
        if code != 0:
            raise RuntimeError(f"training job failed (exit {code}); its output above says why: "
                               f"{' '.join(cmd)}")
        metrics = json.loads(metrics_path.read_text())
        metrics["recipe"] = r.source
        metrics["command"] = " ".join(cmd)
        return metrics
