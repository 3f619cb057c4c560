"""mp.collect, mp.ParamDict and mp.get on both MXNet versions."""
import collections.abc
import re

import pytest
from mxnet import gluon
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat

import helpers
from helpers import Holder, chapter_mlp, forward, rgnet, tied_net


def test_keys_order_and_identity_on_the_chapter_mlp():
    net = chapter_mlp()
    forward(net, 2, 20)
    params = mp.collect(net)
    assert list(params) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert params["0.weight"] is net[0].weight
    assert params["1.bias"] is net[1].bias
    # The same keys, in the same order, as Gluon's own traversal.
    assert list(params.items()) == list(net._collect_params_with_prefix().items())


def test_values_are_gluons_parameters_not_copies():
    net = chapter_mlp()
    forward(net, 2, 20)
    weight = mp.collect(net)["0.weight"]
    assert type(weight) is gluon.Parameter
    weight.data()[0, 0] = 42
    assert net[0].weight.data().asnumpy()[0, 0] == 42


def test_nested_paths_match_nested_indexing():
    net = rgnet()
    forward(net, 2, 20)
    params = mp.collect(net)
    assert len(params) == 4 * 2 * 2 + 2
    assert params["0.1.0.bias"] is net[0][1][0].bias
    assert list(params)[:4] == ["0.0.0.weight", "0.0.0.bias",
                                "0.0.1.weight", "0.0.1.bias"]
    assert list(params)[-2:] == ["1.weight", "1.bias"]


def test_custom_block_attribute_names_and_own_parameters():
    net = Holder(hidden=nn.Dense(4, in_units=3), output=nn.Dense(2, in_units=4))
    helpers.add_param(net, "scale", shape=(2,))
    assert list(mp.collect(net)) == ["scale", "hidden.weight", "hidden.bias",
                                     "output.weight", "output.bias"]
    assert mp.get(net, "scale") is net.scale


def test_a_block_added_twice_appears_under_both_paths():
    net = tied_net()
    params = mp.collect(net)
    assert list(params)[2:6] == ["1.weight", "1.bias", "2.weight", "2.bias"]
    assert params["1.weight"] is params["2.weight"]
    assert len(params) == 8 and len(params.unique()) == 6


@pytest.mark.parametrize("select, expected", [
    (".*weight", ["0.weight", "1.weight"]),
    (".*bias$", ["0.bias", "1.bias"]),
    ("0", ["0.weight", "0.bias"]),
    ("weight", []),                  # re.match: anchored at the start
    (r"1\.bias", ["1.bias"]),
    ("", ["0.weight", "0.bias", "1.weight", "1.bias"]),
    ([r"0\.weight", "1"], ["0.weight", "1.weight", "1.bias"]),
    ([], []),
])
def test_select_patterns(select, expected):
    assert list(mp.collect(chapter_mlp(), select=select)) == expected


def test_select_callable_sees_path_and_parameter():
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.BatchNorm(in_channels=3))
    frozen = mp.collect(net, select=lambda path, p: p.grad_req == "null")
    assert list(frozen) == ["1.running_mean", "1.running_var"]


def test_select_matches_gluon_2_semantics_where_gluon_2_has_them():
    net = rgnet()
    for pattern in [".*weight", "0.1", ".*0.bias", r"1\..*"]:
        ours = list(mp.collect(net, select=pattern))
        reference = [k for k in net._collect_params_with_prefix()
                     if re.match(pattern, k)]
        assert ours == reference
        if not _compat.GLOBAL_NAMES:  # 2.x: collect_params(select) is structural
            assert ours == list(net.collect_params(pattern))


def test_bad_regular_expression_is_a_clear_value_error():
    with pytest.raises(ValueError) as info:
        mp.collect(chapter_mlp(), select="(weight")
    assert str(info.value).startswith(
        "select: '(weight' is not a valid regular expression (missing ), ")
    assert str(info.value).endswith(r"e.g. '0\.weight'")


@pytest.mark.parametrize("select", [3, [".*", 3], {"a": 1}])
def test_select_of_the_wrong_type_is_a_type_error(select):
    with pytest.raises(TypeError, match="select must be a regular expression"):
        mp.collect(chapter_mlp(), select=select)


def test_collect_rejects_non_blocks_with_a_hint():
    net = chapter_mlp()
    with pytest.raises(TypeError, match="got a single Parameter"):
        mp.collect(net[0].weight)
    with pytest.raises(TypeError, match="got a ParamDict"):
        mp.collect(mp.collect(net))


def test_paramdict_is_a_read_only_mapping():
    params = mp.collect(chapter_mlp())
    assert isinstance(params, collections.abc.Mapping)
    assert not isinstance(params, dict)
    with pytest.raises(TypeError):
        params["0.weight"] = None
    with pytest.raises(TypeError):
        del params["0.weight"]
    assert "0.weight" in params and "x" not in params and 0 not in params
    assert params.get("missing") is None


def test_paramdict_select_keeps_order_and_objects():
    params = mp.collect(rgnet())
    picked = params.select(".*bias")
    assert list(picked) == [k for k in params if k.endswith("bias")]
    assert all(picked[k] is params[k] for k in picked)


def test_paramdict_repr_before_and_after_the_forward_pass(golden):
    net = chapter_mlp()
    golden("paramdict_mlp_deferred.txt", repr(mp.collect(net)))
    forward(net, 2, 20)
    golden("paramdict_mlp.txt", repr(mp.collect(net)))
    golden("paramdict_mlp.html", mp.collect(net)._repr_html_())
    # An empty selection explains itself (test_an_empty_selection_...).
    assert repr(mp.collect(net, select="nothing")).startswith(
        "ParamDict(\n  # select='nothing' matches none of the 4 paths\n")


def test_get_by_path():
    net = rgnet()
    assert mp.get(net, "0.1.0.bias") is net[0][1][0].bias
    assert mp.get(net[0][1], "0.bias") is net[0][1][0].bias
    assert mp.get(net[1], "weight") is net[1].weight


def test_not_found_is_a_key_error_with_close_matches():
    net = rgnet()
    with pytest.raises(KeyError) as info:
        mp.get(net, "0.1.0.bais")
    assert isinstance(info.value, mp.ParamNotFound)
    message = str(info.value)
    assert message.startswith("no parameter at path '0.1.0.bais' in "
                              "Sequential. Did you mean '0.1.0.bias', ")
    assert message.count(".bias'") == 3 and message.endswith("?")


def test_not_found_without_close_matches_lists_some_paths():
    with pytest.raises(mp.ParamNotFound, match=r"It has 4 parameter paths, "
                       r"e.g. '0.weight', '0.bias', .*mp.collect\(block\)"):
        mp.get(chapter_mlp(), "zzzzzzzzzzzz")


def test_paths_must_be_strings():
    # A function's argument of the wrong type is a TypeError ...
    with pytest.raises(TypeError, match="mp.get: path must be a str.*got int 0"):
        mp.get(chapter_mlp(), 0)
    # ... but a Mapping answers every missing key with KeyError.
    params = mp.collect(chapter_mlp())
    with pytest.raises(mp.ParamNotFound, match="paths are strings"):
        params[0]
    assert params.get(0) is None and 0 not in params


def test_paramdict_lookup_suggests_paths():
    with pytest.raises(mp.ParamNotFound, match="Did you mean '1.weight'"):
        mp.collect(chapter_mlp())["1.wieght"]


def test_empty_block():
    with pytest.raises(mp.ParamNotFound, match="has no parameters"):
        mp.get(nn.Sequential(), "0.weight")


# -- 1.x global names: accepted on 1.x, explained on 2.x ---------------------

def test_legacy_names(mode):
    net = chapter_mlp()
    forward(net, 2, 20)
    if _compat.GLOBAL_NAMES:
        name = net[0].weight.name  # 'dense<N>_weight': counted per process
        assert re.fullmatch(r"dense\d+_weight", name)
        assert mp.get(net, name) is net[0].weight
        # A ParamDict's keys are paths only; it says which path the name is.
        with pytest.raises(mp.ParamNotFound,
                           match=rf"'{name}' is the MXNet 1.x name of the "
                                 r"parameter at path '0.weight'"):
            mp.collect(net)[name]
    else:
        with pytest.raises(mp.ParamNotFound) as info:
            mp.get(net, "dense0_weight")
        message = str(info.value)
        assert "looks like an MXNet 1.x global name" in message
        assert "Paths ending in 'weight' in Dense layers: 0.weight, 1.weight" \
            in message


def test_legacy_name_hint_for_batchnorm_statistics():
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.BatchNorm(in_channels=3))
    lookup = "hybridsequential0_batchnorm0_running_mean"
    if _compat.GLOBAL_NAMES:
        # On 1.x the name either exists in this process or gets the 1.x
        # close-match treatment; it is never reinterpreted as a path.
        with pytest.raises(mp.ParamNotFound, match="no parameter at path"):
            mp.get(net, lookup + "_x")
    else:
        with pytest.raises(mp.ParamNotFound,
                           match="in BatchNorm layers: 1.running_mean"):
            mp.get(net, lookup)


def test_an_empty_selection_says_what_it_missed():
    # The chapter's seed: a 1.x-style pattern that drifted matches nothing.
    net = rgnet()
    paths = list(mp.collect(net))
    empty = mp.collect(net, select="dense16.*")
    assert len(empty) == 0
    text = repr(empty)
    assert text.splitlines() == [
        "ParamDict(",
        f"  # select='dense16.*' matches none of the {len(paths)} paths",
        "  # the paths are structural, such as "
        + ", ".join(repr(p) for p in paths[:4]) + ", ...",
        "  # 'dense16' looks like an MXNet 1.x name; those drift and are not paths",
        ")"]
    html = empty._repr_html_()
    assert html.startswith("<p><code>ParamDict()</code>: select=&#x27;dense16.*&#x27;")
    assert "looks like an MXNet 1.x name" in html
    # The summary of the same selection carries the same note.
    lines = str(mp.summary(net, select="dense16.*")).splitlines()
    assert lines[-3:] == ["Note        " + text.splitlines()[1][4:],
                          "            " + text.splitlines()[2][4:],
                          "            " + text.splitlines()[3][4:]]


def test_an_empty_selection_of_a_selection_counts_what_it_chose_from():
    net = chapter_mlp()
    biases = mp.collect(net).select(".*bias")
    assert biases.select(".*weight").empty_reason() == [
        "select='.*weight' matches none of the 2 paths",
        "the paths are structural, such as '0.bias', '1.bias'"]
    named = mp.collect(net, select=lambda path, p: False).empty_reason()
    assert named[0] == (
        "select=<function test_an_empty_selection_of_a_selection_counts_what_it_chose_from"
        ".<locals>.<lambda>> matches none of the 4 paths")


def test_only_a_selection_explains_emptiness():
    assert repr(mp.collect(nn.HybridSequential())) == "ParamDict()"
    assert mp.collect(nn.HybridSequential())._repr_html_() == "<p><code>ParamDict()</code></p>"
    assert repr(mp.collect(nn.HybridSequential(), select="0")) == (
        "ParamDict(\n  # select='0' had no parameters to choose from\n)")
    assert mp.collect(chapter_mlp(), select="0").empty_reason() == []
