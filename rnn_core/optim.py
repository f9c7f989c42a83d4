"""Optimizers and gradient clipping on dicts of arrays, with torch.optim's exact arithmetic.

``params`` is a dict name -> array (``cell.params``, or a model's merged dict with keys
such as "layer0.W_x", "W_y"); ``grads`` has the same keys and shapes.  An optimizer
OWNS the update: ``step(grads)`` writes the new values into the ``params`` arrays in
place, so every holder of that dict sees the trained weights.  Clipping functions are
pure: they return new dicts and never touch their input.
"""
import numpy as np


class NonFiniteGradientError(FloatingPointError):
    """A gradient holds nan or inf; the step was refused and nothing was changed.

    A FloatingPointError (not a ValueError): the input was well formed, the numbers blew
    up, so training code can catch it apart from argument errors.  ``kinds`` maps each
    offending key to "nan", "inf" or "nan and inf".
    """

    def __init__(self, kinds):
        self.kinds = dict(kinds)
        listed = ", ".join(f"{key} has {kind}" for key, kind in self.kinds.items())
        super().__init__(f"non-finite gradient ({listed}); parameters and optimizer state "
                         "were left unchanged")


class Optimizer:
    """Base class: validation, the step counter and state (de)serialisation.

    Parameters
    ----------
    params : dict name -> float ndarray, updated IN PLACE by ``step``
    lr : float > 0, the learning rate (``opt.lr`` may be changed between steps)

    Subclasses name their per-parameter buffers in ``buffers`` (e.g. ("m", "v")), kept
    in ``self.state[buffer][key]`` with the parameter's dtype, and implement
    ``_update(key, param, grad)``.
    """

    buffers = ()

    def __init__(self, params, lr):
        if not isinstance(params, dict) or not params:
            raise ValueError("params must be a non-empty dict name -> array")
        for key, p in params.items():
            if not (isinstance(p, np.ndarray) and p.dtype.kind == "f" and p.flags.writeable):
                raise ValueError(f"params[{key!r}] must be a writable float ndarray; got "
                                 f"{type(p).__name__} {getattr(p, 'dtype', '')}")
        self.params = params
        self.lr = lr
        self.step_count = 0
        self.state = {name: {k: np.zeros_like(p) for k, p in params.items()}
                      for name in self.buffers}

    @property
    def lr(self):
        """Learning rate; may be changed between steps (validated, stored as a Python float)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _positive("lr", value)

    def step(self, grads):
        """Update ``params`` in place from ``grads`` (same keys and shapes).

        Raises ValueError for missing/extra keys or wrong shapes, and
        NonFiniteGradientError for nan/inf; both before anything is modified.
        """
        grads = self._checked(grads)
        self.step_count += 1
        for key, grad in grads.items():
            self._update(key, self.params[key], grad)

    def state_dict(self):
        """Copy of the state as plain arrays: "step" and "<buffer>.<param key>"."""
        d = {"step": np.array(self.step_count, dtype=np.int64)}
        for name in self.buffers:
            d.update({f"{name}.{k}": b.copy() for k, b in self.state[name].items()})
        return d

    def load_state_dict(self, d):
        """Restore a ``state_dict`` (e.g. read from a checkpoint); validates everything first."""
        expected = {"step"} | {f"{name}.{k}" for name in self.buffers for k in self.params}
        missing, extra = sorted(expected - set(d)), sorted(set(d) - expected)
        if missing or extra:
            raise ValueError(f"optimizer state does not fit (from another optimizer or model?): "
                             f"missing {missing}, unexpected {extra}")
        step = np.asarray(d["step"])
        if step.shape != () or step.dtype.kind not in "iu" or step < 0:
            raise ValueError(f"optimizer state 'step' must be a non-negative integer; got {d['step']!r}")
        new_state = {name: {} for name in self.buffers}
        for name in self.buffers:
            for k, p in self.params.items():
                b = np.asarray(d[f"{name}.{k}"])
                if b.shape != p.shape or b.dtype.kind != "f" or not np.all(np.isfinite(b)):
                    raise ValueError(f"optimizer state '{name}.{k}' must be finite floats of shape "
                                     f"{p.shape}; got {b.dtype} {b.shape}")
                new_state[name][k] = b.astype(p.dtype, copy=True)
        self.step_count = int(step)
        self.state = new_state

    def _checked(self, grads):
        if not isinstance(grads, dict):
            raise ValueError(f"grads must be a dict like params; got {type(grads).__name__}")
        missing, extra = sorted(set(self.params) - set(grads)), sorted(set(grads) - set(self.params))
        if missing or extra:
            raise ValueError(f"grads keys must match params: missing {missing}, unexpected {extra}")
        checked = {}
        for key, p in self.params.items():
            with np.errstate(over="ignore"):  # a cast that overflows gives inf, refused below
                g = np.asarray(grads[key], dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(f"grads[{key!r}] must have shape {p.shape} like the parameter; "
                                 f"got {g.shape}")
            checked[key] = g
        kinds = _nonfinite_kinds(checked)
        if kinds:
            raise NonFiniteGradientError(kinds)
        return checked

class SGD(Optimizer):
    """buf <- momentum * buf + g;  p <- p - lr * buf, as torch.optim.SGD (dampening 0).

    The first step gives buf = g, as torch's; with momentum 0, plain p <- p - lr * g.
    """

    def __init__(self, params, lr, momentum=0.0):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.momentum = float(momentum)
        self.buffers = ("buf",) if momentum else ()
        super().__init__(params, lr)

    def _update(self, key, param, grad):
        if self.momentum:
            buf = self.state["buf"][key]  # starts at 0, so buf = g after the first step
            buf *= self.momentum
            buf += grad
            grad = buf
        param -= self.lr * grad


class Adagrad(Optimizer):
    """G <- G + g*g;  p <- p - lr * g / (sqrt(G) + eps), as torch.optim.Adagrad (G starts at 0)."""

    buffers = ("sum",)

    def __init__(self, params, lr=0.01, eps=1e-10):
        self.eps = _positive("eps", eps, zero_ok=True)
        super().__init__(params, lr)

    def _update(self, key, param, grad):
        G = self.state["sum"][key]
        G += grad * grad
        param -= self.lr * grad / (np.sqrt(G) + self.eps)  # torch's addcdiv order


class Adam(Optimizer):
    """Adam with bias correction, as torch.optim.Adam (no amsgrad, no weight decay).

    m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g*g;
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    buffers = ("m", "v")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        for name, beta in zip(("betas[0]", "betas[1]"), betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {beta}")
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = _positive("eps", eps, zero_ok=True)
        super().__init__(params, lr)

    def _update(self, key, param, grad):
        m, v = self.state["m"][key], self.state["v"][key]
        m += (1 - self.beta1) * (grad - m)  # torch's lerp form of beta1*m + (1-beta1)*g
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        step_size = self.lr / (1 - self.beta1 ** self.step_count)
        denom = np.sqrt(v) / (1 - self.beta2 ** self.step_count) ** 0.5 + self.eps
        param -= step_size * m / denom  # torch's addcdiv order


def make_optimizer(name, params, lr, **kwargs):
    """Optimizer by name: "sgd", "momentum" (SGD, momentum 0.9 unless given), "adagrad", "adam"."""
    if name == "momentum":
        kwargs.setdefault("momentum", 0.9)
    classes = {"sgd": SGD, "momentum": SGD, "adagrad": Adagrad, "adam": Adam}
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(classes)}")
    return classes[name](params, lr, **kwargs)


def nonfinite_keys(grads):
    """Keys whose array holds any nan or inf, in dict order."""
    return list(_nonfinite_kinds(grads))


def global_norm(grads):
    """sqrt of the sum of squares of all entries of all arrays, computed in float64."""
    return float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads.values())))


def clip_grad_norm(grads, max_norm, eps=1e-6):
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    g <- g * min(1, max_norm / (norm + eps)), as torch.nn.utils.clip_grad_norm_.

    Returns
    -------
    clipped : dict, new arrays (the input is never modified)
    total_norm : float, the global norm BEFORE clipping (what a norm trace should plot)
    """
    max_norm = _positive("max_norm", max_norm)
    total_norm = global_norm(grads)
    coef = float(min(max_norm / (total_norm + eps), 1.0))
    return {k: np.asarray(g) * coef for k, g in grads.items()}, total_norm


def clip_grad_value(grads, clip_value):
    """Clamp every entry to [-clip_value, clip_value] (new dict), as torch's clip_grad_value_."""
    clip_value = _positive("clip_value", clip_value)
    return {k: np.clip(g, -clip_value, clip_value) for k, g in grads.items()}


def _nonfinite_kinds(grads):
    kinds = {}
    for key, g in grads.items():
        if not np.all(np.isfinite(g)):
            has_nan, has_inf = bool(np.isnan(g).any()), bool(np.isinf(g).any())
            kinds[key] = "nan and inf" if has_nan and has_inf else "nan" if has_nan else "inf"
    return kinds


def _positive(name, value, zero_ok=False):
    """value as a Python float (a NumPy float64 would upcast float32 arithmetic)."""
    if not (np.isfinite(value) and (value >= 0 if zero_ok else value > 0)):
        raise ValueError(f"{name} must be a {'non-negative' if zero_ok else 'positive'} number; "
                         f"got {value}")
    return float(value)
