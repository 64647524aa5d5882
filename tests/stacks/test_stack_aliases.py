"""`drop_removed_api_aliases`: the only aliases the program drops are pulumi-kubernetes' type aliases
for the same kind under API versions Kubernetes no longer serves; every other alias is kept."""

from __future__ import annotations

import pulumi
import pytest

from meshc.pulumi.components import drop_removed_api_aliases

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def transform(type_: str, aliases: list[object] | None) -> pulumi.ResourceTransformationResult | None:
    opts = pulumi.ResourceOptions(aliases=aliases, retain_on_delete=True)  # type: ignore[arg-type]
    args = pulumi.ResourceTransformationArgs(
        resource=None,  # type: ignore[arg-type]
        type_=type_,
        name="east/travel/Deployment/trips",
        props={"spec": {"replicas": 2}},
        opts=opts,
    )
    return drop_removed_api_aliases(args)


def test_the_typed_classes_aliases_are_dropped_and_nothing_else_changes() -> None:
    old = [
        pulumi.Alias(type_=f"kubernetes:{gv}:Deployment")
        for gv in ("apps/v1beta1", "apps/v1beta2", "extensions/v1beta1")
    ]
    result = transform(DEPLOYMENT, old)
    assert result is not None
    assert result.opts.aliases is None
    assert result.opts.retain_on_delete is True
    assert result.props == {"spec": {"replicas": 2}}


def test_other_aliases_are_kept() -> None:
    renamed = pulumi.Alias(name="east/travel/Deployment/old-trips")
    other_kind = pulumi.Alias(type_="kubernetes:apps/v1beta1:StatefulSet")
    other_version = pulumi.Alias(type_="kubernetes:apps/v1beta3:Deployment")
    with_name = pulumi.Alias(type_="kubernetes:apps/v1beta1:Deployment", name="old")
    urn = "urn:pulumi:dev::meshc::kubernetes:apps/v1beta1:Deployment::trips"
    dropped = pulumi.Alias(type_="kubernetes:extensions/v1beta1:Deployment")
    kept = [renamed, other_kind, other_version, with_name, urn]
    result = transform(DEPLOYMENT, [*kept, dropped])
    assert result is not None
    assert result.opts.aliases == kept


@pytest.mark.parametrize("aliases", [None, [], [pulumi.Alias(name="old")]])
def test_nothing_to_drop_leaves_the_resource_alone(aliases: list[object] | None) -> None:
    assert transform(DEPLOYMENT, aliases) is None


def test_only_kubernetes_types_are_touched() -> None:
    alias = pulumi.Alias(type_="kubernetes:apps/v1beta1:Deployment")
    assert transform("meshc:deploy:Deployment", [alias]) is None
