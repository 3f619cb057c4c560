"""What the chapter says about Gluon on MXNet 1.x and 2.0, checked.

Where Gluon prints differently on 1.x and 2.0, a notebook cannot show it
(its stored outputs must be the same on every version), so the text quotes
each line's output: 1.6.0, 1.7.0.post2, 1.8.0.post0 and 1.9.1 print the
1.x quote, 2.0.0b1 the 2.0 one.  These tests run the quoted Gluon code on
the version they run on (``python3 tasks.py test`` runs them on all five),
compare the result with the quote for that version, and check that both
quotes are in the notebook's text as written here.  Code whose output
depends on how many layers the process has made (1.x names) runs in a
fresh interpreter, as a fresh notebook kernel would run it.
"""
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import mxnet as mx
import pytest
from mxnet import gluon, npx
from mxnet.gluon import nn

import mxparams as mp

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
V1 = mx.__version__.startswith("1.")

# Gluon runs in numpy mode here, as in the notebooks.
pytestmark = pytest.mark.parametrize("mode", ["np"], indirect=True)

PRELUDE = """\
import warnings
import mxnet as mx
from mxnet import gluon, init, np, npx
from mxnet.gluon import nn
import mxparams as mp
npx.set_np()
"""


def text_of(notebook: str) -> str:
    """The markdown of a notebook, cells joined."""
    nb = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"]
                     if c["cell_type"] == "markdown")


def fresh(code: str) -> str:
    """stdout of ``code`` in a new interpreter (MXNet's C++ logs go to
    stderr, which is not compared)."""
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def quoted(notebook: str, v1: str, v2: str) -> str:
    """Both versions' quotes are in the notebook; returns this version's."""
    text = text_of(notebook)
    for quote in (v1, v2):
        assert quote in text, f"{notebook} no longer quotes {quote!r}"
    return v1 if V1 else v2


MLP = """
net = nn.Sequential()
net.add(nn.Dense(256, activation="relu"))
net.add(nn.Dense(10))
net.initialize()
net(np.random.uniform(size=(2, 20)))
"""


def test_01_params_and_collect_params_print_as_quoted():
    out = fresh(MLP + """
print(net[1].params)
print(list(net.collect_params().keys()))
""")
    params = quoted(
        "01_truy_cap_tham_so",
        "dense1_ (\n"
        "  Parameter dense1_weight (shape=(10, 256), dtype=float32)\n"
        "  Parameter dense1_bias (shape=(10,), dtype=float32)\n"
        ")",
        "{'weight': Parameter (shape=(10, 256), dtype=float32), "
        "'bias': Parameter (shape=(10,), dtype=float32)}")
    keys = quoted("01_truy_cap_tham_so",
                  "['dense0_weight', 'dense0_bias', 'dense1_weight', 'dense1_bias']",
                  "['0.weight', '0.bias', '1.weight', '1.bias']")
    assert out == params + "\n" + keys + "\n"


def test_01_lookup_by_name_differs():
    out = fresh(MLP + """
for key in ("dense1_weight", "weight"):
    try:
        print(key, net[1].params[key] is net[1].weight)
    except KeyError:
        print(key, "KeyError")
""")
    quoted("01_truy_cap_tham_so", "`net[1].params['dense1_weight']`",
           "`net[1].params['weight']`")
    assert out == ("dense1_weight True\nweight KeyError\n" if V1
                   else "dense1_weight KeyError\nweight True\n")


def test_01_a_1x_name_pattern_comes_back_empty_after_names_drift():
    """'dense16.*' selects a layer only in the 1.x process where that layer
    happened to be the 17th Dense; re-running the cell (or 2.x) gives {}."""
    out = fresh("""
for _ in range(16):
    nn.Dense(1)
def build():
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    return net
first = build()                     # on 1.x its layers are dense16, dense17
print(len(list(first.collect_params("dense16.*").values())))
again = build()                     # the cell run again: dense18, dense19
print(len(list(again.collect_params("dense16.*").values())))
""")
    assert out == ("2\n0\n" if V1 else "0\n0\n")
    assert 'net.collect_params("dense16.*")' in text_of("01_truy_cap_tham_so")


def test_02_gluon_warns_once_per_parameter_without_force_reinit():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    net.initialize()
    net(mx.np.ones((2, 20)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.initialize(mx.init.Normal(sigma=0.01))
    ending = "is already initialized, ignoring. Set force_reinit=True to re-initialize."
    assert len(caught) == 4
    assert all(str(w.message).endswith(ending) for w in caught)
    assert f"`... {ending}`" in text_of("02_khoi_tao_tham_so")


def test_02_how_many_already_initialized_warnings_a_student_sees():
    """Python shows each warning text once (the default filter): 1.x names
    every parameter apart, 2.0 only 'weight' and 'bias'."""
    out = fresh("""
shown = []
warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
def build():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    net.initialize()
    net(np.ones((2, 20)))
    return net
net = build()
for what, target in (("first", net), ("again", net), ("new net", build())):
    shown.clear()
    target.initialize(init.Normal(sigma=0.01))
    print(what, len(shown), sorted(set(m.split("'")[1] for m in shown)))
""")
    text = text_of("02_khoi_tao_tham_so")
    for claim in ("lần gọi đầu in bốn cảnh báo, mỗi tham số một cảnh báo",
                  "Gọi lại trên cùng mạng thì không in gì; trên một mạng mới, "
                  "với những tên mới, thì lại in bốn",
                  "lần gọi đầu chỉ in hai cảnh báo, và từ đó về sau, kể cả trên "
                  "một mạng khác, không in gì nữa"):
        assert claim in text, claim
    if V1:
        names = "['dense{0}_bias', 'dense{0}_weight', 'dense{1}_bias', 'dense{1}_weight']"
        assert out == (f"first 4 {names.format(0, 1)}\nagain 0 []\n"
                       f"new net 4 {names.format(2, 3)}\n")
    else:
        assert out == "first 2 ['bias', 'weight']\nagain 0 []\nnew net 0 []\n"


def test_02_which_initializer_wins_depends_on_the_entry_point():
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3))
    net.initialize()
    net.initialize(mx.init.Constant(42), force_reinit=True)       # Block
    assert float(net[0].bias.data().max()) == 0.0
    assert float(net[0].weight.data().min()) == 42.0
    net[0].bias.initialize(init=mx.init.Constant(42), force_reinit=True)  # Parameter
    assert float(net[0].bias.data().min()) == 42.0
    text = text_of("02_khoi_tao_tham_so")
    assert "bộ khởi tạo riêng của tham số được ưu tiên" in text
    assert "`init` truyền vào được ưu tiên hơn bộ khởi tạo riêng của tham số" in text


def test_02_the_name_a_gluon_initializer_gets():
    out = fresh(MLP + """
class MyInit(init.Initializer):
    def _init_weight(self, name, data):
        print("Khởi tạo", name, data.shape)
        data[:] = np.random.uniform(-10, 10, data.shape)
        data *= np.abs(data) >= 5

net.initialize(MyInit(), force_reinit=True)
""")
    expected = quoted(
        "02_khoi_tao_tham_so",
        "Khởi tạo dense0_weight (256, 20)\nKhởi tạo dense1_weight (10, 256)",
        "Khởi tạo weight (256, 20)\nKhởi tạo weight (10, 256)")
    assert out == expected + "\n"


def test_03_each_version_knows_one_way_of_sharing():
    shared = nn.Dense(8, activation="relu")
    if V1:
        with pytest.raises(AttributeError) as err:
            nn.Dense(8).share_parameters(shared.collect_params())
    else:
        with pytest.raises(TypeError) as err:
            nn.Dense(8, activation="relu", params=shared.params)
    message = quoted(
        "03_tham_so_bi_troi_buoc",
        "`AttributeError: 'Dense' object has no attribute 'share_parameters'`",
        "`TypeError: HybridBlock.__init__() got an unexpected keyword argument 'params'`")
    assert message == f"`{err.type.__name__}: {err.value}`"


def test_03_gluon_initialize_of_a_tied_net_warns_on_2x_only():
    shared = nn.Dense(8, activation="relu")
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), shared,
            mp.tie(nn.Dense(8, activation="relu"), shared), nn.Dense(10))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.initialize()
    quote = ("Parameter 'bias' is already initialized, ignoring. "
             "Set force_reinit=True to re-initialize.")
    assert f"`{quote}`" in text_of("03_tham_so_bi_troi_buoc")
    # MXNet 1.6.0's own Parameter._init_grad reads the numpy arrays'
    # deprecated ``.context`` (1.7 and later read ``.ctx``): its
    # DeprecationWarning, from mxnet.numpy, is not shown in a notebook.
    said = [str(w.message) for w in caught
            if str(w.message) != "ndarray.context has been renamed to ndarray.ctx"]
    assert said == ([] if V1 else [quote])


def test_04_declaring_a_constant():
    value = mx.np.ones((20, 20))
    block = nn.Block()
    assert hasattr(block.params, "get_constant") == V1
    message = quoted(
        "04_bai_tap_1_3",
        "`TypeError: Constant.__init__() missing 1 required positional argument: 'value'`",
        "`TypeError: Constant.__init__() takes 2 positional arguments but 3 were given`")
    with pytest.raises(TypeError) as err:
        gluon.Constant(value) if V1 else gluon.Constant("rand_weight", value)
    assert message == f"`TypeError: {err.value}`"


def test_04_the_deferred_initialization_error_as_each_version_words_it():
    """The first sentence of Gluon's message, for the net of exercise 3 in a
    fresh kernel; the rest of the message is the same on every version (the
    notebook prints it with the name replaced by the path)."""
    out = fresh("""
net = nn.Sequential()
net.add(nn.Dense(256, activation="relu"))
net.add(nn.Dense(10))
net.initialize()
print(net[0].bias.data()[:2])
try:
    net[0].weight.data()
except gluon.parameter.DeferredInitializationError as err:
    first, rest = str(err).split(". ", 1)
    print(first + ".")
    print(rest)
""")
    sentence = quoted(
        "04_bai_tap_1_3",
        "`Parameter 'dense0_weight' has not been initialized yet because "
        "initialization was deferred.`",
        "`Parameter 'weight' has not been initialized yet because "
        "initialization was deferred.`")
    bias, first, rest = out.splitlines()
    assert bias == "[0. 0.]"  # a parameter of known shape: initialized at once
    assert f"`{first}`" == sentence
    assert rest == ("Actual initialization happens during the first forward pass. "
                    "Please pass one batch of data through the network before "
                    "accessing Parameters. You can also avoid deferred "
                    "initialization by specifying in_units, num_features, etc., "
                    "for network layers.")


def test_04_gaussian_xavier_has_three_times_the_glorot_variance():
    """MXNet's Xavier takes sqrt(magnitude / n_avg) as the bound of the
    uniform and as the standard deviation of the gaussian."""
    shape, n_avg = (640, 320), (640 + 320) / 2
    for kind, magnitude, var in (("uniform", 3, 1.0), ("gaussian", 3, 3.0),
                                 ("gaussian", 1, 1.0)):
        mx.random.seed(0)
        layer = nn.Dense(shape[0], in_units=shape[1])
        layer.initialize(mx.init.Xavier(rnd_type=kind, magnitude=magnitude))
        w = layer.weight.data().asnumpy().astype("float64")
        assert abs(w.var() * n_avg - var) < 0.03 * var, (kind, magnitude, w.var() * n_avg)
    text = text_of("04_bai_tap_1_3")
    assert "gấp ba lần phương sai của Glorot dạng chuẩn" in text
    assert "`magnitude=1`" in text


def test_04_an_unknown_dimension_depends_on_the_array_mode_not_the_version():
    assert nn.Dense(256).weight.shape == (256, -1)
    npx.reset_np()
    try:
        assert nn.Dense(256).weight.shape == (256, 0)
    finally:
        npx.set_np()
    text = text_of("04_bai_tap_1_3")
    assert "phụ thuộc vào chế độ mảng chứ không phụ thuộc vào phiên bản" in text


def test_05_collect_params_lists_a_tied_parameter_once_on_1x_twice_on_2x():
    shared = nn.Dense(16, activation="relu")
    net = nn.Sequential()
    net.add(nn.Dense(16, activation="relu"), shared,
            mp.tie(nn.Dense(16, activation="relu"), shared), nn.Dense(3))
    mp.initialize(net)
    net(mx.np.ones((2, 20)))
    values = list(net.collect_params().values())
    assert len({id(p) for p in values}) == 6
    quoted("05_bai_tap_4_5",
           "`len(list(net.collect_params().values()))` cho 6",
           "cùng biểu thức ấy cho 8")
    assert len(values) == (6 if V1 else 8)
