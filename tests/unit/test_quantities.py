"""Quantities canonicalised as apimachinery's resource.Quantity String() does.

The expected values are copied from k8s.io/apimachinery v0.37.2,
pkg/api/resource/quantity_test.go (the test each case comes from is named above it), so that
what the operator renders is what the apiserver stores and a resync sees no difference.
"""

import copy
from fractions import Fraction

import pytest

from support.tfmodels import tfmodel
from tfmodel_operator.controller import spec
from tfmodel_operator.controller.decision import render
from tfmodel_operator.controller.decision.diff import is_applied
from tfmodel_operator.controller.decision.plan import desired_plan
from tfmodel_operator.controller.fields import QUANTITY, canonical_quantity, quantity

CANONICAL = [
    # TestQuantityParseEmit
    ("1Ki", "1Ki"), ("1Mi", "1Mi"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1000M", "1G"),
    (".001Ki", "1024m"), (".000001Ki", "1024u"), (".000000001Ki", "1024n"),
    (".000000000001Ki", "2n"),
    # TestQuantityString: each `alternate` spelling and the canonical text it becomes
    ("1024Mi", "1Gi"), ("307200Ki", "300Mi"), ("1025024Mi", "1001Gi"), ("1024Gi", "1Ti"),
    ("5000m", "5"), ("0.5", "500m"), ("1000M", "1G"), ("0.001T", "1G"), ("1000u", "1m"),
    ("1.08", "1080m"), ("1080000000n", "1080m"), (".001e12", "1e9"), ("0.001e0", "1e-3"),
    ("1000e-12", "1e-9"), ("00", "0"),
    # TestQuantityString: canonical texts are kept
    ("1Gi", "1Gi"), ("300Mi", "300Mi"), ("6Ki", "6Ki"), ("1001Gi", "1001Gi"), ("1Ti", "1Ti"),
    ("5", "5"), ("500m", "500m"), ("1G", "1G"), ("1m", "1m"), ("80m", "80m"),
    ("1080m", "1080m"), ("300M", "300M"), ("1T", "1T"), ("1234567M", "1234567M"),
    ("1234567m", "1234567m"), ("3k", "3k"), ("1025", "1025"), ("0", "0"), ("1e9", "1e9"),
    ("1e-3", "1e-3"), ("1e-9", "1e-9"), ("80e-3", "80e-3"), ("300e6", "300e6"),
    ("1e12", "1e12"), ("1e3", "1e3"), ("3e3", "3e3"), ("1n", "1n"), ("80n", "80n"),
    ("1080n", "1080n"), ("1u", "1u"), ("80u", "80u"), ("1080u", "1080u"),
    # TestParseQuantity, up to 1E (spec.parse refuses 2^63/1000 and more)
    ("999999999999999999", "999999999999999999"), ("1E", "1E"), ("1.0E", "1E"),
    ("1000000000000000000", "1E"), ("1000000000000000000.0", "1E"),
    ("999999999999999999.0", "999999999999999999"),
    ("999999999999999999.1", "999999999999999999100m"),
]  # fmt: skip

# TestQuantityParse gives the amount (and its rounding up to whole nano-units) of these.
AMOUNTS = [
    ("0.0005k", Fraction(5, 10)), ("10.035M", Fraction(10035000)), ("1.3E+6", Fraction(1300000)),
    ("3.001n", Fraction(4, 10**9)), ("1.1E-9", Fraction(2, 10**9)),
    ("0.0000000005", Fraction(1, 10**9)), ("0.00000012345", Fraction(124, 10**9)),
    ("0.05Gi", Fraction(536870912, 10)), ("0.000000000001Ki", Fraction(2, 10**9)),
    ("9Ei", Fraction(2**63 - 1)), (".0001k", Fraction(1, 10)), ("1.G", Fraction(10**9)),
]  # fmt: skip


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_quantities_as_apimachinery_emits_them(text: str, canonical: str) -> None:
    assert QUANTITY.fullmatch(text)
    assert canonical_quantity(text) == canonical


@pytest.mark.parametrize(("text", "amount"), AMOUNTS)
def test_amounts_are_exact_and_rounded_up_to_nano_units(text: str, amount: Fraction) -> None:
    assert quantity(text) == amount


@pytest.mark.parametrize(
    ("text", "canonical"),
    # What ParseQuantity's fast path keeps as written, and what it does not (checked against
    # apimachinery v0.37.2 itself): it keeps "+", leading zeros, "E" and "." verbatim.
    [("+5", "+5"), ("007", "007"), ("1E3", "1E3"), ("1e+3", "1e+3"), ("5.", "5."),
     ("1.5e3", "1500"), ("12e6", "12e6"), ("1000000", "1M"), ("1024Ki", "1Mi"),
     ("1.5Gi", "1536Mi"), ("0.0001", "100u"), ("8Ki", "8Ki"), ("0.5Ki", "512"),
     ("1023Ki", "1023Ki"), ("+0", "0"), ("0Ki", "0"), ("1000m", "1")],
)  # fmt: skip
def test_texts_already_canonical_are_kept_verbatim_like_the_apiserver(
    text: str, canonical: str
) -> None:
    assert canonical_quantity(text) == canonical


def test_the_rendered_deployment_holds_what_the_apiserver_will_store() -> None:
    parsed = spec.parse(
        tfmodel(resources={"requests": {"cpu": "0.5", "memory": "1.5Gi"}, "limits": {"cpu": 1000}})
    )
    deployment = render.desired(parsed, desired_plan(parsed)).deployment
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # What apimachinery v0.37.2 stores for "0.5", "1.5Gi" and 1000: a resync applies nothing.
    stored = {"requests": {"cpu": "500m", "memory": "1536Mi"}, "limits": {"cpu": "1k"}}
    live = copy.deepcopy(deployment)
    live["spec"]["template"]["spec"]["containers"][0]["resources"] = stored
    assert container["resources"] == stored
    assert is_applied(deployment, live)


def test_huge_exponents_are_out_of_range_without_computing_them() -> None:
    with pytest.raises(spec.InvalidSpec, match="out of range"):
        spec.parse(tfmodel(resources={"limits": {"cpu": "1e" + "9" * 62}}))
    assert canonical_quantity("1e-" + "9" * 61) == "1e-9"  # rounded up, as 1e-1000 is
