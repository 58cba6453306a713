"""Where a stack may be deployed, which synth doesn't know: CloudFormation checks these rules before it creates
anything, so a wrong account or region fails at once instead of half-way through a create."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, CfnRule, CfnRuleAssertion, Fn, Stack

from mwaa_migration.environment.plan_types import DeployRule


def add_deploy_rules(stack: Stack, rules: Sequence[DeployRule]) -> None:
    """One `DeployTarget` rule holding an assertion per DeployRule; nothing when there are none."""
    assertions = []
    for rule in rules:
        pseudo = Aws.REGION if rule.pseudo == "AWS::Region" else Aws.ACCOUNT_ID
        condition = Fn.condition_equals(pseudo, rule.value)
        assertion = condition if rule.equal else Fn.condition_not(condition)
        assertions.append(CfnRuleAssertion(assert_=assertion, assert_description=rule.why))
    if assertions:
        CfnRule(stack, "DeployTarget", assertions=assertions)
