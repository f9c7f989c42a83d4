"""Checkpoints: exact round trips, and a clear CheckpointError for every broken or foreign file."""
import io
import json
import zipfile

import numpy as np
import pytest

from rnn_core.checkpoint import FORMAT, MAX_BYTES, CheckpointError, load_checkpoint, save_checkpoint
from rnn_core.optim import Adam

META = {"cell": "lstm", "hidden_size": 4, "vocab": "abc\n é✓", "step": 3, "lr": 0.1,
        "layers": [1, 2], "nested": {"clip": None}}


def _model(dtype=np.float32):
    rng = np.random.default_rng(0)
    params = {"layer0.W_x": rng.standard_normal((16, 3)).astype(dtype),
              "layer0.W_h": rng.standard_normal((16, 4)).astype(dtype),
              "W_y": rng.standard_normal((3, 4)).astype(dtype)}
    opt = Adam(params)
    for _ in range(3):
        opt.step({k: rng.standard_normal(p.shape) for k, p in params.items()})
    return params, opt.state_dict()


def _saved_bytes(**kwargs):
    params, state = _model()
    buffer = io.BytesIO()
    save_checkpoint(buffer, kwargs.pop("params", params), kwargs.pop("state", state),
                    kwargs.pop("meta", META))
    return buffer.getvalue()


def _raw_npz(**overrides):
    """An .npz written directly, bypassing save_checkpoint's checks; None removes an entry."""
    params, _ = _model()
    arrays = {"format": np.array(FORMAT), "version": np.array(1), "meta": np.array("{}")}
    arrays.update({"param/" + k: v for k, v in params.items()})
    arrays.update(overrides)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: v for k, v in arrays.items() if v is not None})
    return buffer.getvalue()


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == np.asarray(b[k]).dtype and np.array_equal(a[k], b[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_through_bytesio_is_bit_identical(dtype):
    params, state = _model(dtype)
    buffer = io.BytesIO()
    save_checkpoint(buffer, params, state, META)
    buffer.seek(0)
    ckpt = load_checkpoint(buffer, expected_params=params)
    _assert_same(ckpt.params, params)
    _assert_same(ckpt.optimizer_state, state)
    assert ckpt.meta == META and ckpt.version == 1


def test_round_trip_through_a_path_keeps_the_exact_file_name(tmp_path):
    params, state = _model()
    path = tmp_path / "model.ckpt"  # not ".npz": no extension may be appended
    save_checkpoint(path, params, state, META)
    assert path.exists() and not (tmp_path / "model.ckpt.npz").exists()
    ckpt = load_checkpoint(str(path), expected_params={k: (p.shape, p.dtype) for k, p in params.items()})
    _assert_same(ckpt.params, params)
    _assert_same(ckpt.optimizer_state, state)
    assert ckpt.meta == META


def test_resumed_optimizer_from_checkpoint_continues_identically():
    params, state = _model()
    ckpt = load_checkpoint(_saved_bytes())
    resumed = Adam(ckpt.params)
    resumed.load_state_dict(ckpt.optimizer_state)
    assert resumed.step_count == 3
    _assert_same(resumed.state_dict(), state)


def test_checkpoint_without_optimizer_state_or_meta():
    params, _ = _model()
    buffer = io.BytesIO()
    save_checkpoint(buffer, params)
    ckpt = load_checkpoint(buffer.getvalue())
    assert ckpt.optimizer_state is None and ckpt.meta == {}
    _assert_same(ckpt.params, params)


class _Tripwire:
    """Unpickling this calls _trip; a loader that unpickles would set the flag."""
    def __reduce__(self):
        return (_trip, ())


TRIPPED = []


def _trip():
    TRIPPED.append(True)
    return "unpickled"


def test_object_array_is_refused_without_unpickling():
    payload = np.array([_Tripwire()], dtype=object)
    buffer = io.BytesIO()
    arrays = {"format": np.array(FORMAT), "version": np.array(1), "meta": np.array("{}"),
              "param/W_h": payload}
    np.savez(buffer, allow_pickle=True, **arrays)
    with pytest.raises(CheckpointError, match="'param/W_h' is an object array"):
        load_checkpoint(buffer.getvalue())
    assert TRIPPED == []
    # The tripwire works: unpickling on purpose does trip it.
    buffer.seek(0)
    with np.load(buffer, allow_pickle=True) as npz:
        assert npz["param/W_h"][0] == "unpickled"
    assert TRIPPED == [True]


def _truncated():
    data = _saved_bytes()
    return data[:len(data) // 2]


def _bit_flipped_member():
    data = bytearray(_saved_bytes())
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("param/layer0.W_x.npy")
    # Middle of the member's compressed bytes (after its 30-byte local header, name and extra
    # field): the inflate fails or the CRC check does.
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2] ^= 0xFF
    return bytes(data)


def _plain_npy():
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


def _foreign_npz():
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.zeros(3))
    return buffer.getvalue()


@pytest.mark.parametrize("make, reason", [
    (lambda: b"", "the file is empty"),
    (lambda: np.random.default_rng(0).bytes(1000), r"not an RNN Lab checkpoint \(.npz\)"),
    (lambda: "h_t = tanh(W_x x_t)\n".encode(), r"not an RNN Lab checkpoint \(.npz\)"),
    (_plain_npy, r"not an RNN Lab checkpoint \(.npz\)"),
    (_truncated, r"not an RNN Lab checkpoint \(.npz\).*truncated"),
    (_bit_flipped_member, "damaged"),
    (_foreign_npz, f"no '{FORMAT}' marker"),
    (lambda: _raw_npz(format=np.array("other-format")), f"no '{FORMAT}' marker"),
    (lambda: _raw_npz(version=np.array(2)), "format version 2, written by a newer RNN Lab"),
    (lambda: _raw_npz(version=np.array(0)), "unknown format version 0"),
    (lambda: _raw_npz(version=None), "no valid format version"),
    (lambda: _raw_npz(meta=np.array("{not json")), "metadata is not valid JSON"),
    (lambda: _raw_npz(meta=np.array("[1, 2]")), "metadata is missing or not a JSON object"),
    (lambda: _raw_npz(**{"extra": np.zeros(2)}), r"unknown entries \['extra'\]"),
    (lambda: _raw_npz(**{"param/W_y": np.array([[1.0, np.nan]])}), "parameter 'W_y' contains nan"),
    (lambda: _raw_npz(**{"param/W_y": np.array([np.inf])}), "parameter 'W_y' contains inf"),
    (lambda: _raw_npz(**{"param/W_y": np.array(["a"])}), "parameter 'W_y' must be floating-point"),
    (lambda: _raw_npz(**{"optim/m.W_y": np.array([np.nan])}), "optimizer state 'm.W_y' contains nan"),
])
def test_broken_or_foreign_file_is_refused_with_the_reason(make, reason):
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(io.BytesIO(make()))


def _expected(**changes):
    params, _ = _model()
    spec = {k: (p.shape, p.dtype) for k, p in params.items()}
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.mark.parametrize("expected, reason", [
    (_expected(**{"layer0.W_h": None}), r"unexpected parameters \['layer0.W_h'\]"),
    (_expected(b=((16,), np.float32)), r"missing parameters \['b'\]"),
    (_expected(W_y=((5, 4), np.float32)),
     r"'W_y' has shape \(3, 4\) in the checkpoint, but this model expects \(5, 4\)"),
    (_expected(W_y=((3, 4), np.float64)),
     "'W_y' has dtype float32 in the checkpoint, but this model expects float64"),
    (_expected(W_y=np.zeros((4, 3), np.float32)), r"expects \(4, 3\)"),
])
def test_checkpoint_that_does_not_fit_the_model_is_refused(expected, reason):
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(_saved_bytes(), expected_params=expected)


def test_file_above_the_size_limit_is_refused():
    data = _saved_bytes()
    assert len(data) < MAX_BYTES
    with pytest.raises(CheckpointError, match=f"larger than the {len(data) - 1} bytes limit"):
        load_checkpoint(data, max_bytes=len(data) - 1)


def test_small_file_that_unpacks_too_large_is_refused():
    bomb = _raw_npz(**{"param/W_h": np.zeros((1000, 1000))})  # 8 MB of zeros, ~8 kB packed
    assert len(bomb) < 100_000
    with pytest.raises(CheckpointError, match="unpacks to more than the 1 MB limit"):
        load_checkpoint(bomb, max_bytes=2**20)


def test_missing_path_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read the checkpoint file"):
        load_checkpoint(tmp_path / "absent.npz")


@pytest.mark.parametrize("kwargs, reason", [
    ({"meta": {"vocab": {"a", "b"}}}, "JSON-serialisable"),
    ({"meta": {1: "int key"}}, "reads back equal"),
    ({"meta": {"shape": (2, 3)}}, "reads back equal"),
    ({"meta": {"lr": float("nan")}}, "JSON-serialisable"),
    ({"meta": ["not", "a", "dict"]}, "reads back equal"),
    ({"params": {"W_h": np.array([np.nan], np.float32)}}, "parameter 'W_h' contains nan"),
    ({"params": {"W_h": np.arange(3)}}, "parameter 'W_h' must be floating-point"),
    ({"state": {"step": np.array("three")}}, "optimizer state 'step' must be numeric"),
])
def test_save_refuses_what_could_not_be_loaded_back(kwargs, reason):
    with pytest.raises(CheckpointError, match=reason):
        _saved_bytes(**kwargs)


def test_meta_is_stored_as_json_text_not_objects():
    with np.load(io.BytesIO(_saved_bytes()), allow_pickle=False) as npz:
        assert npz["meta"].dtype.kind == "U"
        assert json.loads(str(npz["meta"])) == META
        assert all(npz[k].dtype.kind != "O" for k in npz.files)


def test_entry_whose_header_claims_a_huge_shape_is_refused_before_allocating():
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 10**9)})
    buffer = io.BytesIO(_raw_npz())
    with zipfile.ZipFile(buffer, "a") as zf:
        zf.writestr("param/W_h.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(CheckpointError, match="'param/W_h' claims more data than it holds"):
        load_checkpoint(buffer.getvalue())
