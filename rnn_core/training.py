"""A character-model training session as plain data: start, run in short chunks, pause, restore.

Symbols: T window length (seq_len), B streams (batch_size), V vocabulary size, H hidden size.

A ``TrainingRun`` holds everything a session needs: the model and optimizer, where the batch
stream is, the hidden state carried from one window to the next (truncated BPTT), compact
histories for the plots, milestone samples, and the last good checkpoint (bytes). A user
interface calls ``train_for(run, seconds=0.15)`` again and again; nothing here blocks for long,
and nothing is shared between runs.

A step whose loss or gradient is NaN or inf is not applied: the run pauses with status
"diverged" and a message naming the step and the gradient norm, and ``restore_last_good``
brings back the weights, optimizer and stream of the last good checkpoint.
"""
from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .charmodel import CharModel, NonFiniteStepError, make_char_model, mean_loss, train_step
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .losses import perplexity
from .ngram import best_baseline
from .optim import make_optimizer
from .sampling import sample_text
from .text import BatchStream, Vocab, split

CELLS = ("rnn", "lstm", "gru")
OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")
CHECKPOINT_KIND = "rnnlab-char-rnn"
ARCHITECTURE = ("cell", "hidden_size", "num_layers", "seed", "dtype")  # a change means new weights


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; the defaults train a useful model in about a minute."""

    cell: str = "lstm"              # "rnn", "lstm" or "gru"
    hidden_size: int = 128          # H
    num_layers: int = 1
    seq_len: int = 64               # T, the truncated-BPTT window
    batch_size: int = 32            # B parallel streams
    optimizer: str = "adam"         # "sgd", "momentum", "adagrad" or "adam"
    lr: float = 2e-3
    clip: float | None = 5.0        # global-norm threshold; None for no clipping
    seed: int = 0
    total_steps: int = 2000
    dtype: str = "float32"
    val_fraction: float = 0.1
    eval_every: int = 50            # steps between validation losses
    eval_chars: int = 4096          # validation uses at most this many characters (fixed cost)
    checkpoint_every: int = 100     # steps between "last good" snapshots
    milestones: tuple = (100, 300, 700, 2000, 5000)
    sample_chars: int = 200
    sample_temperature: float = 0.8

    def check(self):
        """Raise ValueError naming the first setting out of range."""
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}; got {self.cell!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        for name in ("hidden_size", "num_layers", "seq_len", "batch_size", "total_steps",
                     "eval_every", "eval_chars", "checkpoint_every", "sample_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number; got {self.lr!r}")
        if self.clip is not None and not (np.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clip must be a positive number or None; got {self.clip!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {self.dtype!r}")
        return self


class History:
    """Series of (step, value) kept short: past ``max_points`` every other old point is dropped.

    ``train`` rows: step, loss, grad_norm, tokens_per_s.  ``val`` rows: step, loss.
    """

    TRAIN = ("step", "loss", "grad_norm", "tokens_per_s")
    VAL = ("step", "loss")

    def __init__(self, max_points=2000, train=None, val=None):
        self.max_points = max_points
        self.train = train or {k: [] for k in self.TRAIN}
        self.val = val or {k: [] for k in self.VAL}

    def add_train(self, step, loss, grad_norm, tokens_per_s):
        self._add(self.train, (step, loss, grad_norm, tokens_per_s))

    def add_val(self, step, loss):
        self._add(self.val, (step, loss))

    def _add(self, series, row):
        for key, value in zip(series, row):
            series[key].append(float(value) if key != "step" else int(value))
        if len(series["step"]) > self.max_points:
            keep = len(series["step"]) // 2  # thin the older half, keep the recent half dense
            for key in series:
                series[key] = series[key][:keep:2] + series[key][keep:]

    def truncate(self, step):
        """Forget every point after ``step`` (used when an older checkpoint is restored)."""
        for series in (self.train, self.val):
            n = int(np.searchsorted(series["step"], step, side="right"))
            for key in series:
                series[key] = series[key][:n]

    def to_json(self):
        return {"max_points": self.max_points, "train": self.train, "val": self.val}

    @classmethod
    def from_json(cls, d):
        return cls(d["max_points"], {k: list(d["train"][k]) for k in cls.TRAIN},
                   {k: list(d["val"][k]) for k in cls.VAL})


@dataclass
class TrainingRun:
    """One session's training: model, optimizer, data position, carried state and what was seen."""

    config: TrainConfig
    corpus: str                      # a name for the text, e.g. "stories" or "upload:notes.txt"
    vocab: Vocab
    train_ids: np.ndarray            # (N_train,) int
    val_ids: np.ndarray              # (N_val,) int
    model: CharModel
    optimizer: object
    stream: BatchStream
    baseline: object = None          # ngram.Baseline on the validation text, or None
    states: list | None = None       # carried hidden states, or None for zeros
    step: int = 0
    status: str = "new"              # "new", "running", "paused", "diverged", "done"
    message: str = ""
    history: History = field(default_factory=History)
    samples: list = field(default_factory=list)   # [(step, text)] at the milestones
    last_good: bytes | None = None   # checkpoint of the last good state
    last_good_step: int | None = None

    @property
    def tokens_per_step(self) -> int:
        return self.config.batch_size * self.config.seq_len

    @property
    def val_perplexity(self):
        losses = self.history.val["loss"]
        return perplexity(losses[-1]) if losses else None


def new_run(text, config=TrainConfig(), corpus="text", baseline=True) -> TrainingRun:
    """A fresh run on ``text``: vocabulary, train/validation split, model, optimizer, batches.

    ``baseline=True`` fits the n-gram models (orders 1..5) on the training text and scores the
    validation text; pass an ``ngram.Baseline`` to reuse one, or None to skip it.

    Raises ValueError (with a message for the student) if the text is too short for the
    batch size and sequence length.
    """
    config.check()
    vocab = Vocab.from_text(text)
    train_ids, val_ids = split(vocab.encode(text), config.val_fraction)
    return _fresh_run(config, corpus, vocab, train_ids, val_ids, baseline)


def _fresh_run(config, corpus, vocab, train_ids, val_ids, baseline) -> TrainingRun:
    if baseline is True:
        baseline = best_baseline(train_ids, val_ids, vocab.size)
    model = make_char_model(config.cell, vocab.size, config.hidden_size, config.num_layers,
                            seed=config.seed, dtype=np.dtype(config.dtype))
    run = TrainingRun(config, corpus, vocab, train_ids, val_ids, model,
                      make_optimizer(config.optimizer, model.params, config.lr),
                      BatchStream(train_ids, config.batch_size, config.seq_len), baseline or None)
    run.last_good, run.last_good_step = checkpoint_bytes(run), 0
    return run


def needs_new_weights(old: TrainConfig, new: TrainConfig) -> bool:
    """True if going from ``old`` to ``new`` changes the architecture or the initial weights."""
    return any(getattr(old, k) != getattr(new, k) for k in ARCHITECTURE)


def update_settings(run: TrainingRun, config: TrainConfig) -> None:
    """Apply settings that keep the weights: learning rate, clipping, steps, optimizer, batches.

    A new optimizer starts with empty state; new batch or window sizes restart the stream at
    the beginning of the text, with a fresh hidden state.
    """
    config.check()
    if needs_new_weights(run.config, config):
        raise ValueError("the architecture or seed changed: start a new run (new_run)")
    old, run.config = run.config, config
    if config.optimizer != old.optimizer:
        run.optimizer = make_optimizer(config.optimizer, run.model.params, config.lr)
    run.optimizer.lr = config.lr
    if (config.batch_size, config.seq_len) != (old.batch_size, old.seq_len):
        run.stream = BatchStream(run.train_ids, config.batch_size, config.seq_len)
        run.states = None
    if run.status == "done" and run.step < config.total_steps:
        run.status = "paused"


def train_for(run: TrainingRun, seconds=None, steps=None) -> int:
    """Train until ``seconds`` have passed or ``steps`` were taken (at least one step).

    Stops early at ``config.total_steps`` (status "done") or at a non-finite step (status
    "diverged", nothing applied). Validation, milestone samples and snapshots happen on their
    step numbers. Returns the number of steps taken.
    """
    if seconds is None and steps is None:
        raise ValueError("give seconds or steps (or both)")
    cfg, start, done = run.config, time.perf_counter(), 0
    while run.step < cfg.total_steps:
        batch = next(run.stream)
        if batch.new_epoch:
            run.states = None  # the streams restart at the top of the text
        try:
            result = train_step(run.model, run.optimizer, batch.X, batch.Y, run.states, cfg.clip)
        except NonFiniteStepError as err:
            _diverged(run, err)
            return done
        run.states, run.step, done = result.states, run.step + 1, done + 1
        run.history.add_train(run.step, result.loss, result.grad_norm,
                              run.tokens_per_step / result.seconds)
        _after_step(run)
        if run.status == "diverged":
            return done
        if (steps is not None and done >= steps
                or seconds is not None and time.perf_counter() - start >= seconds):
            break
    if run.step >= cfg.total_steps:
        run.status, run.message = "done", f"Finished {run.step:,} steps."
    return done


def _after_step(run: TrainingRun):
    cfg, step = run.config, run.step
    if not all(np.isfinite(p).all() for p in run.model.params.values()):
        return _pause(run, f"Training paused after step {step:,}: the update made some weights NaN "
                           f"or inf (gradient norm {run.history.train['grad_norm'][-1]:.4g}).")
    if step % cfg.eval_every == 0 or step == cfg.total_steps:
        val = evaluate(run)
        if not np.isfinite(val):
            return _pause(run, f"Training paused at step {step:,}: the validation loss became {val:.4g}.")
        run.history.add_val(step, val)
    if step in cfg.milestones:
        run.samples.append((step, milestone_sample(run)))
    if step % cfg.checkpoint_every == 0:
        run.last_good, run.last_good_step = checkpoint_bytes(run), step


def _diverged(run: TrainingRun, err: NonFiniteStepError):
    bad = " and ".join(name for name, value in (("the loss", err.loss), ("the gradient", err.grad_norm))
                       if not np.isfinite(value))
    _pause(run, f"Training paused at step {run.step + 1:,}: the loss was {err.loss:.4g} and the "
                f"gradient norm {err.grad_norm:.4g}. Because {bad} overflowed to NaN or inf, that "
                "update was not applied.")


def _pause(run: TrainingRun, what: str):
    """Status "diverged", with a message saying what happened and what can be done."""
    run.status, run.states = "diverged", None
    run.message = (f"{what} The last good checkpoint (step {run.last_good_step:,}) is kept and can "
                   "be restored. A smaller learning rate or gradient clipping usually helps.")


def evaluate(run: TrainingRun) -> float:
    """Mean NLL per character on (a fixed prefix of) the validation text, in one batched pass.

    The text is cut into up to 32 contiguous streams read in parallel from a zero state (a
    loop of ~128 steps instead of 4096), so the first characters of each stream are predicted
    with little context: the estimate is slightly pessimistic, the same way at every step.
    """
    ids = run.val_ids[:run.config.eval_chars]
    B = int(min(32, max(1, (len(ids) - 1) // 64)))  # each stream at least 64 characters long
    L = (len(ids) - 1) // B
    X = ids[:B * L].reshape(B, L).T            # (L, B)
    Y = ids[1:B * L + 1].reshape(B, L).T       # (L, B)
    with np.errstate(over="ignore", invalid="ignore"):
        loss, _ = mean_loss(run.model, X, Y)
    return loss


def milestone_sample(run: TrainingRun, length=None, temperature=None) -> str:
    """A sample of the current model from a newline prime (or the first vocabulary character).

    Seeded by (seed, step), so the same run gives the same samples, whatever else was sampled.
    """
    cfg = run.config
    prime = "\n" if "\n" in run.vocab.chars else run.vocab.chars[0]
    rng = np.random.default_rng([cfg.seed, run.step])
    return sample_text(run.model, run.vocab, prime, cfg.sample_chars if length is None else length,
                       cfg.sample_temperature if temperature is None else temperature, rng)


# ---------------------------------------------------------------------------------------------
# Checkpoints: model, optimizer, stream position, carried state, histories and samples.

def _state_arrays(run: TrainingRun) -> dict:
    """The carried hidden states as named arrays ("carry.l0.h", "carry.l0.c", ...)."""
    if run.states is None:
        return {}
    out = {}
    for l, s in enumerate(run.states):
        h, c = s if run.model.kind == "lstm" else (s, None)
        out[f"carry.l{l}.h"] = h
        if c is not None:
            out[f"carry.l{l}.c"] = c
    return out


def checkpoint_bytes(run: TrainingRun) -> bytes:
    """The run as an .npz checkpoint (``rnn_core.checkpoint`` format), ready to download."""
    meta = {
        "kind": CHECKPOINT_KIND, "corpus": run.corpus, "vocab": run.vocab.chars,
        "config": {**asdict(run.config), "milestones": list(run.config.milestones)},
        "step": run.step, "stream": [run.stream.epoch, run.stream.index],
        "history": run.history.to_json(), "samples": [list(s) for s in run.samples],
    }
    buf = io.BytesIO()
    save_checkpoint(buf, {**run.model.params, **_state_arrays(run)},
                    run.optimizer.state_dict(), meta)
    return buf.getvalue()


def _config_from_meta(meta) -> TrainConfig:
    raw = meta.get("config")
    known = set(TrainConfig.__dataclass_fields__)
    if not isinstance(raw, dict) or not set(raw) <= known:
        raise CheckpointError("the checkpoint's settings are missing or unknown")
    try:
        return TrainConfig(**{**raw, "milestones": tuple(raw.get("milestones", ()))}).check()
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"the checkpoint's settings are invalid: {err}") from err


def load_run(data, text, corpus="text", baseline=True) -> TrainingRun:
    """Continue from a checkpoint (bytes) on ``text``, which must use the checkpoint's vocabulary.

    The settings, weights, optimizer state, stream position, carried state, histories and
    samples all come from the file, so training continues exactly where it was saved.

    Raises
    ------
    CheckpointError
        Not a checkpoint, damaged, from another model, or a vocabulary that does not match.
    """
    ckpt = load_checkpoint(data)
    meta = ckpt.meta
    if meta.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError("this checkpoint was not saved by the Char-RNN page (it holds "
                              "another kind of model)")
    config = _config_from_meta(meta)
    chars = meta.get("vocab")
    if not isinstance(chars, str) or Vocab.from_text(text).chars != chars:
        theirs = len(chars) if isinstance(chars, str) else "an unknown number of"
        raise CheckpointError(
            f"this checkpoint's vocabulary ({theirs} characters, trained on "
            f"'{meta.get('corpus', '?')}') does not match the current corpus "
            f"({len(set(text))} characters). Select the corpus it was trained on, then upload "
            "it again.")
    vocab = Vocab(chars)
    try:
        train_ids, val_ids = split(vocab.encode(text), config.val_fraction)
        run = _fresh_run(config, corpus, vocab, train_ids, val_ids, baseline)
    except ValueError as err:
        raise CheckpointError(f"this checkpoint's settings do not fit the current corpus: {err}") from err
    return _load_into(run, ckpt, bytes(data))


def _load_into(run: TrainingRun, ckpt, data: bytes) -> TrainingRun:
    """Fill a fresh run with a checkpoint's weights, optimizer, position, state and histories."""
    meta = ckpt.meta
    carried = {k: v for k, v in ckpt.params.items() if k.startswith("carry.")}
    params = {k: v for k, v in ckpt.params.items() if not k.startswith("carry.")}
    try:
        run.model.load_params(params)
        run.optimizer.load_state_dict(ckpt.optimizer_state or {})
        run.states = _states_from_arrays(run, carried)
        epoch, index = (int(x) for x in meta["stream"])
        if not 0 <= index < run.stream.windows_per_epoch or epoch < 0:
            raise ValueError(f"stream position {index} is outside this text's "
                             f"{run.stream.windows_per_epoch} windows")
        run.stream.epoch, run.stream.index = epoch, index
        run.step = int(meta["step"])
        run.history = History.from_json(meta["history"])
        run.samples = [(int(s), str(t)) for s, t in meta["samples"]]
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"this checkpoint does not fit its own settings: {err}") from err
    run.status = "done" if run.step >= run.config.total_steps else "paused" if run.step else "new"
    run.last_good, run.last_good_step = data, run.step
    return run


def _states_from_arrays(run: TrainingRun, carried):
    if not carried:
        return None
    B, H, dtype = run.config.batch_size, run.model.hidden_size, run.model.dtype
    states = []
    for l in range(run.model.num_layers):
        names = [f"carry.l{l}.h"] + ([f"carry.l{l}.c"] if run.model.kind == "lstm" else [])
        arrays = []
        for name in names:
            arr = carried.pop(name)
            if arr.shape != (B, H) or arr.dtype != dtype:
                raise ValueError(f"{name} must be {dtype} (B, H) = ({B}, {H}); got {arr.dtype} {arr.shape}")
            arrays.append(arr)
        states.append(tuple(arrays) if run.model.kind == "lstm" else arrays[0])
    if carried:
        raise ValueError(f"unexpected carried states {sorted(carried)}")
    return states


def restore_last_good(run: TrainingRun) -> TrainingRun:
    """A run rebuilt from the last good checkpoint (the same text and baseline), status "paused"."""
    if run.last_good is None:
        raise ValueError("there is no good checkpoint to restore")
    ckpt = load_checkpoint(run.last_good)
    fresh = _fresh_run(_config_from_meta(ckpt.meta), run.corpus, run.vocab, run.train_ids,
                       run.val_ids, run.baseline)
    restored = _load_into(fresh, ckpt, run.last_good)
    restored.status = "paused"
    restored.message = f"Restored the last good checkpoint, step {restored.step:,}."
    return restored


def with_settings(config: TrainConfig, **changes) -> TrainConfig:
    """A copy of ``config`` with some settings changed (validated)."""
    return replace(config, **changes).check()
