"""Localisation: the span of layers a wrong backward can sit in, parameterless layers
included and kinds named, between the highest layer with wrong parameter gradients and
the lowest right one above it."""

from conformance.cases.layers import Activation, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, SequenceSpec
from conformance.cases.spec import NetworkSpec
from conformance.diagnosis.localise import span

LEAKY_AFTER_DENSE = SequenceSpec((4,), (Dense(4, 5), Activation("leaky_relu"), Dense(5, 3)), "mse")
POOL_AFTER_NORM = SequenceSpec((1, 6, 6), (Conv2d(1, 2), BatchNorm(2), Activation("relu"), AvgPool2d(),
                                           Flatten(), Dense(8, 3)), "mse")


def test_a_wrong_layer_below_a_parameterless_one_does_not_pin_the_error_on_the_dense_layer():
    # A wrong leaky slope: the dense layer below has wrong gradients, the one above right ones.
    text = span(LEAKY_AFTER_DENSE, [0], input_wrong=True).text()
    assert text == ("the error enters in the backward of one of layers 0–2 (dense, leaky_relu, dense): layer 0's "
                    "gradients are wrong, layer 2's right")
    assert "enters at layer 0" not in text


def test_a_bug_named_at_one_layer_inside_the_span_pins_it_and_names_its_kind():
    assert span(LEAKY_AFTER_DENSE, [0], True).text(named=(1,)) == "the error enters at layer 1 (leaky_relu)"


def test_a_pool_above_a_batch_norm_is_inside_the_span_and_the_norm_is_not_named_alone():
    # An average pool dividing by k at layer 3: the conv and the norm below it have wrong gradients.
    found = span(POOL_AFTER_NORM, [0, 1], True)
    assert (found.low, found.high) == (1, 5)
    assert "avgpool2d" in found.text() and not found.text().startswith("the error enters at layer 1")


def test_a_wrong_top_layer_of_a_network_with_a_loss_may_be_the_loss_gradient():
    text = span(NetworkSpec.mlp([3, 4, 2], "tanh", "identity", loss="mse"), [1], False).text()
    assert text.startswith("the error enters at layer 1 (dense+identity) (or the loss's gradient)")


def test_nothing_wrong_has_no_span():
    assert span(LEAKY_AFTER_DENSE, [], input_wrong=False) is None


def test_an_average_pool_dividing_by_k_is_named_at_the_pool_not_at_the_batch_norm_below():
    from conformance.audit.mutants import MUTANTS
    from conformance.running.targets import Target
    from conformance.runner import case_outcome

    (mutant,) = [m for m in MUTANTS if m.name == "avgpool_divides_by_kernel"]
    found = case_outcome(Target(mutant.name, mutant.adapter(), "test"), mutant.shows_in).diagnosis
    line = found.line()
    assert "the error enters at layer 3 (avgpool2d)" in line and "×3" in line, line
    assert "layer 1 (batchnorm)" not in line.split(" (the error enters")[-1], line


def test_a_max_pool_that_overwrites_conforms_on_windows_that_do_not_overlap_and_fails_where_they_do():
    from conformance.audit.mutants import MUTANTS
    from conformance.audit.showcases import layer_case
    from conformance.running.targets import Target
    from conformance.runner import case_outcome

    (mutant,) = [m for m in MUTANTS if m.name == "maxpool_overwrites"]
    target = Target(mutant.name, mutant.adapter(), "test")
    apart = case_outcome(target, layer_case("maxpool2d"))
    assert not [r.detail for r in apart.rows if r.unexpected]
    overlapping = case_outcome(target, layer_case("maxpool2d.s1"))
    assert "writes each window's gradient to its maximum where it must add" in overlapping.diagnosis.line()
